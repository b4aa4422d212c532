"""Write suites/followups.jsonl: conversations of 2-3 turns on northwind, each turn as asked in the
conversation ("now only 2024") and written out in full, with Spark SQL reference code; the first turn
also has paraphrases (for verified answers). Run: .venv/bin/python scripts/build_followups_suite.py"""

from __future__ import annotations

import json
from pathlib import Path

R = "quantity * unit_price * (1 - discount)"
ORDERS, NASDAQ = ["northwind.orders"], ["northwind.nasdaq"]

# (id, tables, paraphrases of turn 1, [(as asked, in full, sql, ordered), ...])
CONVERSATIONS = [
    (
        "orders-country",
        ORDERS,
        ["Number of orders for each country", "Count the orders per country"],
        [
            (
                "How many orders were placed per country?",
                "How many orders were placed per country?",
                "SELECT country, COUNT(*) AS orders FROM orders GROUP BY country",
                False,
            ),
            (
                "Now only for 2024.",
                "How many orders were placed per country in 2024?",
                "SELECT country, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 GROUP BY country",
                False,
            ),
            (
                "Which 3 countries had the most of those?",
                "Which 3 countries had the most orders in 2024? Show the country and the number of orders, most first.",
                "SELECT country, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 GROUP BY country ORDER BY orders DESC LIMIT 3",
                True,
            ),
        ],
    ),
    (
        "revenue-category",
        ORDERS,
        ["Total revenue for each category", "Per category, what is the total revenue?"],
        [
            (
                "What is the total revenue per category? Revenue is quantity * unit_price * (1 - discount).",
                "What is the total revenue per category? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT category, SUM({R}) AS revenue FROM orders GROUP BY category",
                False,
            ),
            (
                "Split that by year.",
                "What is the total revenue per category and year? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT category, year(order_date) AS year, SUM({R}) AS revenue FROM orders GROUP BY category, year(order_date)",
                False,
            ),
        ],
    ),
    (
        "avg-close-symbol",
        NASDAQ,
        ["Average closing price for each symbol", "For every symbol, what is the average close?"],
        [
            (
                "What is the average closing price per symbol?",
                "What is the average closing price per symbol?",
                "SELECT symbol, AVG(close) AS avg_close FROM nasdaq GROUP BY symbol",
                False,
            ),
            (
                "Only in 2023.",
                "What is the average closing price per symbol in 2023?",
                "SELECT symbol, AVG(close) AS avg_close FROM nasdaq WHERE year(date) = 2023 GROUP BY symbol",
                False,
            ),
            (
                "And the highest close too.",
                "What are the average and the highest closing price per symbol in 2023?",
                "SELECT symbol, AVG(close) AS avg_close, MAX(close) AS max_close FROM nasdaq WHERE year(date) = 2023 GROUP BY symbol",
                False,
            ),
        ],
    ),
    (
        "units-product",
        ORDERS,
        ["Units sold for each product", "Per product, how many units were sold?"],
        [
            (
                "How many units were sold per product?",
                "How many units were sold per product?",
                "SELECT product, SUM(quantity) AS units FROM orders GROUP BY product",
                False,
            ),
            (
                "Just the top 5.",
                "Which 5 products sold the most units? Show the product and the units, most first.",
                "SELECT product, SUM(quantity) AS units FROM orders GROUP BY product ORDER BY units DESC LIMIT 5",
                True,
            ),
        ],
    ),
    (
        "customers-country",
        ORDERS,
        ["Distinct customers for each country", "Per country, the number of different customers"],
        [
            (
                "How many distinct customers are there per country?",
                "How many distinct customers are there per country?",
                "SELECT country, COUNT(DISTINCT customer) AS customers FROM orders GROUP BY country",
                False,
            ),
            (
                "Which country has the most?",
                "Which country has the most distinct customers? Show the country and the number.",
                "SELECT country, COUNT(DISTINCT customer) AS customers FROM orders GROUP BY country ORDER BY customers DESC LIMIT 1",
                False,
            ),
        ],
    ),
    (
        "volume-symbol",
        NASDAQ,
        ["Total volume for each symbol", "Per symbol, the total traded volume"],
        [
            (
                "What is the total traded volume per symbol?",
                "What is the total traded volume per symbol?",
                "SELECT symbol, SUM(volume) AS volume FROM nasdaq GROUP BY symbol",
                False,
            ),
            (
                "Now per year as well.",
                "What is the total traded volume per symbol and year?",
                "SELECT symbol, year(date) AS year, SUM(volume) AS volume FROM nasdaq GROUP BY symbol, year(date)",
                False,
            ),
        ],
    ),
    (
        "orders-month-2024",
        ORDERS,
        ["Number of orders for each month of 2024", "Orders per month in 2024, counted"],
        [
            (
                "How many orders were there in each month of 2024?",
                "How many orders were there in each month of 2024?",
                "SELECT month(order_date) AS month, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 GROUP BY month(order_date)",
                False,
            ),
            (
                "Only for Germany.",
                "How many orders from Germany were there in each month of 2024?",
                "SELECT month(order_date) AS month, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 AND country = 'Germany' GROUP BY month(order_date)",
                False,
            ),
        ],
    ),
    (
        "avg-discount-category",
        ORDERS,
        ["Average discount for each category", "Per category, the mean discount"],
        [
            (
                "What is the average discount per category?",
                "What is the average discount per category?",
                "SELECT category, AVG(discount) AS avg_discount FROM orders GROUP BY category",
                False,
            ),
            (
                "Only count orders that had a discount.",
                "What is the average discount per category, over the orders that had a discount (discount > 0)?",
                "SELECT category, AVG(discount) AS avg_discount FROM orders WHERE discount > 0 GROUP BY category",
                False,
            ),
        ],
    ),
    (
        "revenue-country-2023",
        ORDERS,
        ["Revenue for each country in 2023", "Per country, the 2023 revenue"],
        [
            (
                "What was the revenue per country in 2023? Revenue is quantity * unit_price * (1 - discount).",
                "What was the revenue per country in 2023? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT country, SUM({R}) AS revenue FROM orders WHERE year(order_date) = 2023 GROUP BY country",
                False,
            ),
            (
                "And in 2024?",
                "What was the revenue per country in 2024? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT country, SUM({R}) AS revenue FROM orders WHERE year(order_date) = 2024 GROUP BY country",
                False,
            ),
            (
                "Show both years side by side.",
                "What was the revenue per country in 2023 and in 2024, side by side (one column per year)? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT country, SUM(CASE WHEN year(order_date) = 2023 THEN {R} END) AS revenue_2023, SUM(CASE WHEN year(order_date) = 2024 THEN {R} END) AS revenue_2024 FROM orders GROUP BY country",
                False,
            ),
        ],
    ),
    (
        "max-high-symbol",
        NASDAQ,
        ["Highest high for each symbol", "Per symbol, the maximum high price"],
        [
            (
                "What was the highest high price per symbol?",
                "What was the highest high price per symbol?",
                "SELECT symbol, MAX(high) AS max_high FROM nasdaq GROUP BY symbol",
                False,
            ),
            (
                "And the lowest low?",
                "What were the highest high price and the lowest low price per symbol?",
                "SELECT symbol, MAX(high) AS max_high, MIN(low) AS min_low FROM nasdaq GROUP BY symbol",
                False,
            ),
        ],
    ),
    (
        "orders-customer-top",
        ORDERS,
        ["The 5 customers with the most orders", "Top 5 customers by number of orders"],
        [
            (
                "Which 5 customers placed the most orders? Show the customer and the number of orders, most first.",
                "Which 5 customers placed the most orders? Show the customer and the number of orders, most first.",
                "SELECT customer, COUNT(*) AS orders FROM orders GROUP BY customer ORDER BY orders DESC, customer LIMIT 5",
                True,
            ),
            (
                "Same, but only 2023.",
                "Which 5 customers placed the most orders in 2023? Show the customer and the number of orders, most first.",
                "SELECT customer, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2023 GROUP BY customer ORDER BY orders DESC, customer LIMIT 5",
                True,
            ),
        ],
    ),
    (
        "units-category",
        ORDERS,
        ["Units sold for each category", "Per category, total units sold"],
        [
            (
                "How many units were sold per category?",
                "How many units were sold per category?",
                "SELECT category, SUM(quantity) AS units FROM orders GROUP BY category",
                False,
            ),
            (
                "Only in Japan.",
                "How many units were sold per category to customers in Japan?",
                "SELECT category, SUM(quantity) AS units FROM orders WHERE country = 'Japan' GROUP BY category",
                False,
            ),
            (
                "And in the USA?",
                "How many units were sold per category to customers in the USA?",
                "SELECT category, SUM(quantity) AS units FROM orders WHERE country = 'USA' GROUP BY category",
                False,
            ),
        ],
    ),
    (
        "avg-volume-aapl",
        NASDAQ,
        ["Average daily volume of AAPL", "AAPL's mean daily volume"],
        [
            (
                "What was the average daily volume of AAPL?",
                "What was the average daily volume of AAPL?",
                "SELECT AVG(volume) AS avg_volume FROM nasdaq WHERE symbol = 'AAPL'",
                False,
            ),
            (
                "And for MSFT?",
                "What was the average daily volume of MSFT?",
                "SELECT AVG(volume) AS avg_volume FROM nasdaq WHERE symbol = 'MSFT'",
                False,
            ),
        ],
    ),
    (
        "orders-2024",
        ORDERS,
        ["Number of orders in 2024", "Count of 2024 orders"],
        [
            (
                "How many orders were placed in 2024?",
                "How many orders were placed in 2024?",
                "SELECT COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024",
                False,
            ),
            (
                "How many of them had a discount?",
                "How many orders placed in 2024 had a discount (discount > 0)?",
                "SELECT COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 AND discount > 0",
                False,
            ),
        ],
    ),
    (
        "products-category",
        ORDERS,
        ["Distinct products for each category", "Per category, the number of products"],
        [
            (
                "How many different products does each category have?",
                "How many different products does each category have?",
                "SELECT category, COUNT(DISTINCT product) AS products FROM orders GROUP BY category",
                False,
            ),
            (
                "List the products of Seafood.",
                "Which products belong to the Seafood category?",
                "SELECT DISTINCT product FROM orders WHERE category = 'Seafood'",
                False,
            ),
        ],
    ),
    (
        "close-range-2024",
        NASDAQ,
        ["Lowest and highest close of each symbol in 2024", "Per symbol, min and max close in 2024"],
        [
            (
                "What were the lowest and highest closing prices per symbol in 2024?",
                "What were the lowest and highest closing prices per symbol in 2024?",
                "SELECT symbol, MIN(close) AS min_close, MAX(close) AS max_close FROM nasdaq WHERE year(date) = 2024 GROUP BY symbol",
                False,
            ),
            (
                "Add the difference between them.",
                "What were the lowest and highest closing prices per symbol in 2024, and the difference between them?",
                "SELECT symbol, MIN(close) AS min_close, MAX(close) AS max_close, MAX(close) - MIN(close) AS spread FROM nasdaq WHERE year(date) = 2024 GROUP BY symbol",
                False,
            ),
        ],
    ),
    (
        "revenue-customer-top",
        ORDERS,
        ["The 3 customers with the highest revenue", "Top 3 customers by revenue"],
        [
            (
                "Which 3 customers brought the most revenue? Revenue is quantity * unit_price * (1 - discount). Most first.",
                "Which 3 customers brought the most revenue? Revenue is quantity * unit_price * (1 - discount). Most first.",
                f"SELECT customer, SUM({R}) AS revenue FROM orders GROUP BY customer ORDER BY revenue DESC LIMIT 3",
                True,
            ),
            (
                "Which country is each of them in?",
                "Which 3 customers brought the most revenue, and which country is each in? Revenue is quantity * unit_price * (1 - discount). Most first.",
                f"SELECT customer, country, SUM({R}) AS revenue FROM orders GROUP BY customer, country ORDER BY revenue DESC LIMIT 3",
                True,
            ),
        ],
    ),
    (
        "orders-weekday",
        ORDERS,
        ["Number of orders on each day of the week", "Orders counted by weekday"],
        [
            (
                "How many orders were placed on each day of the week? Use the weekday name.",
                "How many orders were placed on each day of the week? Use the weekday name.",
                "SELECT date_format(order_date, 'EEEE') AS weekday, COUNT(*) AS orders FROM orders GROUP BY date_format(order_date, 'EEEE')",
                False,
            ),
            (
                "Only in 2023.",
                "How many orders were placed on each day of the week in 2023? Use the weekday name.",
                "SELECT date_format(order_date, 'EEEE') AS weekday, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2023 GROUP BY date_format(order_date, 'EEEE')",
                False,
            ),
        ],
    ),
    (
        "trading-days",
        NASDAQ,
        ["Number of trading days for each symbol", "Per symbol, how many trading days are recorded"],
        [
            (
                "How many trading days are there per symbol?",
                "How many trading days are there per symbol?",
                "SELECT symbol, COUNT(*) AS days FROM nasdaq GROUP BY symbol",
                False,
            ),
            (
                "Only days where the close was above the open.",
                "For each symbol, on how many trading days was the close above the open?",
                "SELECT symbol, COUNT(*) AS days FROM nasdaq WHERE close > open GROUP BY symbol",
                False,
            ),
        ],
    ),
    (
        "avg-quantity-country",
        ORDERS,
        ["Average quantity per order for each country", "Per country, the mean order quantity"],
        [
            (
                "What is the average quantity per order in each country?",
                "What is the average quantity per order in each country?",
                "SELECT country, AVG(quantity) AS avg_quantity FROM orders GROUP BY country",
                False,
            ),
            (
                "Only Beverages.",
                "What is the average quantity per order of Beverages in each country?",
                "SELECT country, AVG(quantity) AS avg_quantity FROM orders WHERE category = 'Beverages' GROUP BY country",
                False,
            ),
        ],
    ),
    (
        "revenue-quarter-2024",
        ORDERS,
        ["Revenue for each quarter of 2024", "Per quarter, the 2024 revenue"],
        [
            (
                "What was the revenue per quarter in 2024? Revenue is quantity * unit_price * (1 - discount).",
                "What was the revenue per quarter in 2024? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT quarter(order_date) AS quarter, SUM({R}) AS revenue FROM orders WHERE year(order_date) = 2024 GROUP BY quarter(order_date)",
                False,
            ),
            (
                "Only Dairy Products.",
                "What was the revenue of Dairy Products per quarter in 2024? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT quarter(order_date) AS quarter, SUM({R}) AS revenue FROM orders WHERE year(order_date) = 2024 AND category = 'Dairy Products' GROUP BY quarter(order_date)",
                False,
            ),
        ],
    ),
    (
        "big-orders",
        ORDERS,
        ["Number of orders with 20 or more units", "Count the orders of at least 20 units"],
        [
            (
                "How many orders had a quantity of at least 20 units?",
                "How many orders had a quantity of at least 20 units?",
                "SELECT COUNT(*) AS orders FROM orders WHERE quantity >= 20",
                False,
            ),
            (
                "Per country.",
                "How many orders had a quantity of at least 20 units, per country?",
                "SELECT country, COUNT(*) AS orders FROM orders WHERE quantity >= 20 GROUP BY country",
                False,
            ),
        ],
    ),
    (
        "avg-close-month-nvda",
        NASDAQ,
        ["NVDA's average close for each month of 2024", "Per month of 2024, NVDA's mean closing price"],
        [
            (
                "What was NVDA's average closing price in each month of 2024?",
                "What was NVDA's average closing price in each month of 2024?",
                "SELECT month(date) AS month, AVG(close) AS avg_close FROM nasdaq WHERE symbol = 'NVDA' AND year(date) = 2024 GROUP BY month(date)",
                False,
            ),
            (
                "And the total volume per month?",
                "What were NVDA's average closing price and total volume in each month of 2024?",
                "SELECT month(date) AS month, AVG(close) AS avg_close, SUM(volume) AS volume FROM nasdaq WHERE symbol = 'NVDA' AND year(date) = 2024 GROUP BY month(date)",
                False,
            ),
        ],
    ),
    (
        "orders-product-chai",
        ORDERS,
        ["Number of orders of Chai", "Count of Chai orders"],
        [
            (
                "How many orders were there for the product Chai?",
                "How many orders were there for the product Chai?",
                "SELECT COUNT(*) AS orders FROM orders WHERE product = 'Chai'",
                False,
            ),
            (
                "And how many units in total?",
                "How many orders and how many units in total were there for the product Chai?",
                "SELECT COUNT(*) AS orders, SUM(quantity) AS units FROM orders WHERE product = 'Chai'",
                False,
            ),
        ],
    ),
    (
        "revenue-country-top",
        ORDERS,
        ["The country with the highest revenue", "Top country by revenue"],
        [
            (
                "Which country brought the most revenue? Revenue is quantity * unit_price * (1 - discount).",
                "Which country brought the most revenue? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT country, SUM({R}) AS revenue FROM orders GROUP BY country ORDER BY revenue DESC LIMIT 1",
                False,
            ),
            (
                "And the least?",
                "Which country brought the least revenue? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT country, SUM({R}) AS revenue FROM orders GROUP BY country ORDER BY revenue ASC LIMIT 1",
                False,
            ),
        ],
    ),
    (
        "avg-price-category",
        ORDERS,
        ["Average unit price for each category", "Per category, the mean unit price"],
        [
            (
                "What is the average unit price per category?",
                "What is the average unit price per category?",
                "SELECT category, AVG(unit_price) AS avg_price FROM orders GROUP BY category",
                False,
            ),
            (
                "Sort that from most to least expensive.",
                "What is the average unit price per category, from most to least expensive?",
                "SELECT category, AVG(unit_price) AS avg_price FROM orders GROUP BY category ORDER BY avg_price DESC",
                True,
            ),
        ],
    ),
    (
        "volume-2023",
        NASDAQ,
        ["Total volume of 2023", "Sum of the volume traded in 2023"],
        [
            (
                "What was the total traded volume in 2023?",
                "What was the total traded volume in 2023?",
                "SELECT SUM(volume) AS volume FROM nasdaq WHERE year(date) = 2023",
                False,
            ),
            (
                "Per symbol.",
                "What was the total traded volume in 2023 per symbol?",
                "SELECT symbol, SUM(volume) AS volume FROM nasdaq WHERE year(date) = 2023 GROUP BY symbol",
                False,
            ),
            (
                "Which symbol had the most?",
                "Which symbol had the most traded volume in 2023? Show the symbol and its volume.",
                "SELECT symbol, SUM(volume) AS volume FROM nasdaq WHERE year(date) = 2023 GROUP BY symbol ORDER BY volume DESC LIMIT 1",
                False,
            ),
        ],
    ),
    (
        "customers-2024",
        ORDERS,
        ["Number of distinct customers in 2024", "How many different customers ordered in 2024"],
        [
            (
                "How many distinct customers placed orders in 2024?",
                "How many distinct customers placed orders in 2024?",
                "SELECT COUNT(DISTINCT customer) AS customers FROM orders WHERE year(order_date) = 2024",
                False,
            ),
            (
                "And in 2023?",
                "How many distinct customers placed orders in 2023?",
                "SELECT COUNT(DISTINCT customer) AS customers FROM orders WHERE year(order_date) = 2023",
                False,
            ),
        ],
    ),
    (
        "revenue-product-seafood",
        ORDERS,
        ["Revenue for each Seafood product", "Per Seafood product, the revenue"],
        [
            (
                "What is the revenue of each product in the Seafood category? Revenue is quantity * unit_price * (1 - discount).",
                "What is the revenue of each product in the Seafood category? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT product, SUM({R}) AS revenue FROM orders WHERE category = 'Seafood' GROUP BY product",
                False,
            ),
            (
                "Only orders from France.",
                "What is the revenue of each product in the Seafood category from customers in France? Revenue is quantity * unit_price * (1 - discount).",
                f"SELECT product, SUM({R}) AS revenue FROM orders WHERE category = 'Seafood' AND country = 'France' GROUP BY product",
                False,
            ),
        ],
    ),
    (
        "first-last-order",
        ORDERS,
        ["The first and the last order date", "Earliest and latest order dates"],
        [
            (
                "What are the first and the last order dates?",
                "What are the first and the last order dates?",
                "SELECT MIN(order_date) AS first_order, MAX(order_date) AS last_order FROM orders",
                False,
            ),
            (
                "Per country.",
                "What are the first and the last order dates per country?",
                "SELECT country, MIN(order_date) AS first_order, MAX(order_date) AS last_order FROM orders GROUP BY country",
                False,
            ),
        ],
    ),
]


def code(query: str) -> str:
    return f'def answer(spark, tables):\n    return spark.sql("""\n        {query}\n    """)\n'


def main() -> None:
    lines = [
        "# Follow-up conversations on northwind (scripts/build_followups_suite.py; benchmarks/followups.py)."
    ]
    for cid, tables, paraphrases, turns in CONVERSATIONS:
        entry = {
            "id": cid,
            "tables": tables,
            "paraphrases": paraphrases,
            "turns": [
                {"question": asked, "full": full, "reference": code(query), "ordered": ordered}
                for asked, full, query, ordered in turns
            ],
        }
        lines.append(json.dumps(entry))
    out = Path(__file__).parent.parent / "suites" / "followups" / "northwind.jsonl"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(CONVERSATIONS)} conversations, {sum(len(t) for *_, t in CONVERSATIONS)} turns -> {out}")


if __name__ == "__main__":
    main()

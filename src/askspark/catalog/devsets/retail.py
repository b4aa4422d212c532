"""The development dataset ``retail``: a star schema of a chain of stores, sales of 2024.

A fact table ``sales`` and three dimensions, joined with mixed key naming on purpose so a model (and
join-key inference) must find them: ``sales.product_id = products.id``, ``sales.storeId =
stores.storeId`` and ``sales.cust_key = customers.cust_key``. Category, brand, region, city, segment and
loyalty tier live only in the dimensions, so many questions need a join. Some products were never
sold, a store opened late in the year, walk-in sales have no customer (null ``cust_key``) and some
customers have no loyalty tier. Seeded generators: regenerating writes byte-identical Parquet.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from askspark.catalog.base import TableInfo
from askspark.catalog.sample import register_tables
from askspark.settings import Settings

DATABASE = "retail"
SALES = 9000
CUSTOMERS = 600
UNSOLD = 3  # the last products of the list were never sold
# category: {brand: [(product name, list price in USD, unit cost in USD)]}
CATALOG: dict[str, dict[str, list[tuple[str, float, float]]]] = {
    "Electronics": {
        "Voltra": [("Voltra Earbuds", 59.0, 31.0), ("Voltra Speaker", 89.0, 52.0), ("Voltra Charger", 24.0, 9.5)],
        "Lumen": [("Lumen Tablet", 329.0, 240.0), ("Lumen E-Reader", 129.0, 88.0), ("Lumen Smartwatch", 199.0, 131.0)],
    },
    "Home": {
        "Hearth": [("Hearth Kettle", 39.0, 18.0), ("Hearth Toaster", 45.0, 22.0), ("Hearth Blender", 79.0, 41.0)],
        "Nook": [("Nook Lamp", 34.0, 14.0), ("Nook Throw Blanket", 29.0, 11.0), ("Nook Candle Set", 19.0, 6.0)],
    },
    "Toys": {
        "Kiddo": [("Kiddo Blocks", 25.0, 9.0), ("Kiddo Puzzle", 15.0, 5.5), ("Kiddo Robot", 69.0, 38.0)],
        "Playwell": [("Playwell Kite", 22.0, 8.0), ("Playwell Board Game", 35.0, 15.0)],
    },
    "Grocery": {
        "Fieldfresh": [("Fieldfresh Coffee", 12.5, 6.0), ("Fieldfresh Olive Oil", 14.0, 7.5), ("Fieldfresh Granola", 6.5, 2.5)],
        "Mill & Co": [("Mill & Co Pasta", 3.2, 1.1), ("Mill & Co Flour", 4.1, 1.6), ("Mill & Co Crackers", 3.8, 1.4)],
    },
    "Apparel": {
        "Northway": [("Northway Jacket", 149.0, 70.0), ("Northway Beanie", 18.0, 6.0), ("Northway Gloves", 24.0, 9.0)],
        "Strider": [("Strider Running Shoes", 110.0, 58.0), ("Strider Socks", 9.0, 2.5), ("Strider Cap", 21.0, 7.0)],
    },
}  # fmt: skip
# store name: (region, city, opened); one store opened in 2024-09 and sells only from then on
STORES: dict[str, tuple[str, str, date]] = {
    "Pike Street": ("West", "Seattle", date(2015, 4, 1)),
    "Harbor Point": ("West", "San Diego", date(2018, 6, 15)),
    "Mission Bay": ("West", "San Francisco", date(2019, 3, 2)),
    "Lakeshore": ("Midwest", "Chicago", date(2012, 9, 10)),
    "Riverside": ("Midwest", "Minneapolis", date(2016, 5, 20)),
    "Union Square": ("Northeast", "New York", date(2010, 11, 1)),
    "Back Bay": ("Northeast", "Boston", date(2017, 2, 14)),
    "Peachtree": ("South", "Atlanta", date(2014, 8, 8)),
    "Bayou": ("South", "New Orleans", date(2020, 10, 5)),
    "Congress Ave": ("South", "Austin", date(2024, 9, 1)),
}
# region -> category weight multipliers: each region has its own favourite category by amount
REGION_TASTE: dict[str, dict[str, float]] = {
    "West": {"Apparel": 7.0, "Electronics": 0.6},
    "Midwest": {"Home": 4.0, "Electronics": 0.7},
    "South": {"Toys": 8.0, "Electronics": 0.6},
    "Northeast": {},
}
NON_BUYERS = 45  # customers with a card who never bought anything in 2024
SEGMENTS = {"Consumer": 0.62, "Small Business": 0.25, "Corporate": 0.13}
TIERS = {"Gold": 0.12, "Silver": 0.25, "Bronze": 0.33}  # the remaining 30% have no tier (null)
_FIRST = ["Ava", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Liam",
          "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara"]  # fmt: skip
_LAST = ["Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Khan",
         "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Walsh", "Young", "Ahmed",
         "Brooks", "Chen", "Dias", "Eriksen", "Ferrari"]  # fmt: skip

TABLE_COMMENTS = {
    "sales": "Sales transactions of a chain of stores in 2024, one row per receipt line (synthetic).",
    "products": "Products sold by the chain, one row per product.",
    "stores": "The chain's stores, one row per store.",
    "customers": "Loyalty-card customers, one row per customer.",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "sales": {
        "sale_id": "unique sale number, increasing with sale_date",
        "sale_date": "day of the sale",
        "product_id": "the product sold (products.id)",
        "storeId": "the store that made the sale (stores.storeId)",
        "cust_key": "the customer (customers.cust_key); null for walk-in sales without a loyalty card",
        "quantity": "units sold",
        "unit_price": "price of one unit in USD",
        "amount": "quantity * unit_price in USD",
    },
    "products": {
        "id": "unique product number",
        "product_name": "product name",
        "category": "Electronics, Home, Toys, Grocery or Apparel",
        "brand": "brand name",
        "list_price": "regular price of one unit in USD",
        "unit_cost": "what one unit costs the chain in USD",
    },
    "stores": {
        "storeId": "unique store number",
        "store_name": "store name",
        "region": "West, Midwest, Northeast or South",
        "city": "city of the store",
        "opened_on": "day the store opened",
    },
    "customers": {
        "cust_key": "unique customer number",
        "customer_name": "first and last name",
        "segment": "Consumer, Small Business or Corporate",
        "loyalty_tier": "Gold, Silver or Bronze; null when the customer has no tier",
        "joined_on": "day the customer got a loyalty card",
    },
}


def generate(settings: Settings) -> list[TableInfo]:
    """Write the ``retail`` tables under the warehouse and register them; same bytes every time."""
    rng = np.random.default_rng(2024)
    products, stores, customers = products_table(), stores_table(), customers_table(rng)
    tables = {
        "sales": sales_table(rng, products),
        "products": products,
        "stores": stores,
        "customers": customers,
    }
    return register_tables(settings, DATABASE, tables, TABLE_COMMENTS, COLUMN_COMMENTS)


def products_table() -> pa.Table:
    rows = [
        (category, brand, *item)
        for category, brands in CATALOG.items()
        for brand, items in brands.items()
        for item in items
    ]
    return pa.table(
        {
            "id": pa.array(range(101, 101 + len(rows)), pa.int32()),
            "product_name": pa.array([r[2] for r in rows], pa.string()),
            "category": pa.array([r[0] for r in rows], pa.string()),
            "brand": pa.array([r[1] for r in rows], pa.string()),
            "list_price": pa.array([r[3] for r in rows], pa.float64()),
            "unit_cost": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


def stores_table() -> pa.Table:
    return pa.table(
        {
            "storeId": pa.array(range(1, len(STORES) + 1), pa.int32()),
            "store_name": pa.array(list(STORES), pa.string()),
            "region": pa.array([s[0] for s in STORES.values()], pa.string()),
            "city": pa.array([s[1] for s in STORES.values()], pa.string()),
            "opened_on": pa.array([s[2] for s in STORES.values()], pa.date32()),
        }
    )


def customers_table(rng: np.random.Generator) -> pa.Table:
    names = [f"{first} {last}" for first in _FIRST for last in _LAST]
    chosen = rng.choice(len(names), CUSTOMERS, replace=False)
    segments = rng.choice(list(SEGMENTS), CUSTOMERS, p=list(SEGMENTS.values()))
    tiers = rng.choice([*TIERS, ""], CUSTOMERS, p=[*TIERS.values(), 1 - sum(TIERS.values())])
    joined = np.datetime64("2019-01-01") + rng.integers(0, 6 * 365, CUSTOMERS).astype("timedelta64[D]")
    return pa.table(
        {
            "cust_key": pa.array(np.arange(5001, 5001 + CUSTOMERS), pa.int64()),
            "customer_name": pa.array([names[i] for i in chosen], pa.string()),
            "segment": pa.array(segments, pa.string()),
            "loyalty_tier": pa.array(tiers, pa.string(), mask=tiers == ""),
            "joined_on": pa.array(joined, pa.date32()),
        }
    )


def sales_table(rng: np.random.Generator, products: pa.Table) -> pa.Table:
    """Sales over 2024: seasonal, tastes by region, about 10% walk-ins, some card holders never buying."""
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2025-01-01"))
    dates = np.sort(rng.choice(days, SALES, p=_day_weights(days)))
    stores = _stores(rng, dates)
    product = _products(rng, products, stores)
    prices = np.asarray(products.column("list_price").to_pylist())[product]
    quantity = np.minimum(rng.geometric(0.45, SALES), 12)
    buyers = _zipf(CUSTOMERS) * (rng.permutation(CUSTOMERS) >= NON_BUYERS)
    customer = 5001 + rng.choice(CUSTOMERS, SALES, p=buyers / buyers.sum())
    walk_in = rng.random(SALES) < 0.1
    return pa.table(
        {
            "sale_id": pa.array(np.arange(1, SALES + 1), pa.int64()),
            "sale_date": pa.array(dates, pa.date32()),
            "product_id": pa.array(101 + product, pa.int32()),
            "storeId": pa.array(stores, pa.int32()),
            "cust_key": pa.array(customer, pa.int64(), mask=walk_in),
            "quantity": pa.array(quantity, pa.int32()),
            "unit_price": pa.array(prices, pa.float64()),
            "amount": pa.array(np.round(quantity * prices, 2), pa.float64()),
        }
    )


def _products(rng: np.random.Generator, products: pa.Table, stores: np.ndarray) -> np.ndarray:
    """Product indexes by popularity times the store region's taste; the last UNSOLD are never sold."""
    sold = len(products) - UNSOLD
    popularity = rng.lognormal(0, 0.8, sold)
    categories = products.column("category").to_pylist()[:sold]
    regions = [region for region, _, _ in STORES.values()]
    chosen = np.empty(len(stores), np.int64)
    for number, region in enumerate(regions, start=1):
        at = stores == number
        weights = popularity * np.array([REGION_TASTE[region].get(c, 1.0) for c in categories])
        chosen[at] = rng.choice(sold, int(at.sum()), p=weights / weights.sum())
    return chosen


def _day_weights(days: np.ndarray) -> np.ndarray:
    """Weekends busier, a December rush."""
    months = days.astype("datetime64[M]").astype(int) % 12
    weights = np.where(np.is_busday(days), 1.0, 1.5) * np.where(months == 11, 1.8, 1.0)
    return weights / weights.sum()


def _stores(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """Store numbers by size; the last store (opened 2024-09-01) only sells from its opening day."""
    size = np.array([1.4, 1.0, 0.9, 1.3, 0.7, 1.6, 0.8, 1.0, 0.6, 0.9])
    stores = 1 + rng.choice(len(size), len(dates), p=size / size.sum())
    early = (stores == len(size)) & (dates < np.datetime64(STORES["Congress Ave"][2]))
    return np.where(early, 1 + rng.choice(len(size) - 1, len(dates), p=size[:-1] / size[:-1].sum()), stores)


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** 0.7
    return weights / weights.sum()

"""The sample database ``northwind``: deterministic stock prices and sales orders, as Parquet.

Everything is drawn from seeded random generators, so regenerating writes byte-identical files.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from askspark.catalog.base import TableInfo
from askspark.catalog.local import LocalCatalog
from askspark.settings import Settings

DATABASE = "northwind"

# symbol: (first open in USD, yearly drift, daily volatility, typical daily volume)
SYMBOLS: dict[str, tuple[float, float, float, int]] = {
    "AAPL": (130.0, 0.30, 0.016, 60_000_000),
    "MSFT": (240.0, 0.32, 0.017, 25_000_000),
    "GOOG": (90.0, 0.28, 0.019, 22_000_000),
    "AMZN": (85.0, 0.35, 0.021, 50_000_000),
    "NVDA": (146.0, 0.90, 0.030, 45_000_000),
    "META": (125.0, 0.70, 0.024, 20_000_000),
}

# country: share of customers
COUNTRIES: dict[str, float] = {
    "USA": 0.22,
    "Germany": 0.14,
    "United Kingdom": 0.11,
    "France": 0.10,
    "Brazil": 0.08,
    "Canada": 0.07,
    "Japan": 0.06,
    "Mexico": 0.05,
    "Spain": 0.05,
    "Italy": 0.05,
    "Sweden": 0.04,
    "Australia": 0.03,
}

# category: {product: list price in USD}
PRODUCTS: dict[str, dict[str, float]] = {
    "Beverages": {
        "Chai": 18.0,
        "Chang": 19.0,
        "Lakkalikoori": 18.0,
        "Ipoh Coffee": 46.0,
        "Steeleye Stout": 18.0,
    },
    "Condiments": {"Aniseed Syrup": 10.0, "Cajun Seasoning": 22.0, "Gumbo Mix": 21.35, "Vegie-spread": 43.9},
    "Confections": {
        "Pavlova": 17.45,
        "Teatime Biscuits": 9.2,
        "Sir Rodney's Scones": 10.0,
        "Chocolade": 12.75,
    },
    "Dairy Products": {"Queso Cabrales": 21.0, "Gorgonzola Telino": 12.5, "Mascarpone Fabioli": 32.0},
    "Produce": {"Tofu": 23.25, "Dried Apples": 53.0, "Manjimup Dried Pears": 30.0, "Rossle Sauerkraut": 45.6},
    "Seafood": {"Ikura": 31.0, "Konbu": 6.0, "Carnarvon Tigers": 62.5, "Nord-Ost Matjeshering": 25.89},
}

# month (1..12) -> relative order volume: a summer dip and a strong fourth quarter
MONTH_WEIGHTS = [0.85, 0.8, 0.95, 1.0, 1.0, 0.85, 0.75, 0.8, 1.0, 1.15, 1.45, 1.7]
# category -> months it sells extra (beverages in summer, confections before Christmas, ...)
CATEGORY_PEAKS: dict[str, tuple[int, ...]] = {
    "Beverages": (6, 7, 8),
    "Confections": (11, 12),
    "Seafood": (12,),
    "Produce": (9, 10),
}
DISCOUNTS = [0.0, 0.05, 0.1, 0.15, 0.2]

_PREFIXES = [
    "Alfreds", "Blauer See", "Bon App", "Bottom-Dollar", "Cactus", "Centro", "Chop-suey", "Consolidated",
    "Drachenblut", "Du Monde", "Eastern", "Ernst", "Familia", "Folies", "Frankenversand", "Galeria",
    "Godos", "Great Lakes", "Hanari", "Hungry Owl", "Island", "Koniglich", "La Maison", "Lazy K",
    "Lonesome Pine", "Magazzini", "Maison Dewey", "Mere Paillarde", "North/South", "Ocean", "Old World",
    "Pericles", "Piccolo", "Princesa", "Queen", "Rattlesnake", "Ricardo", "Santa Gourmet", "Seven Seas",
    "Wolski",
]  # fmt: skip
_SUFFIXES = ["Trading", "Imports", "Markets", "Delicatessen", "Foods"]

TABLE_COMMENTS = {
    "nasdaq": "Daily stock prices of six NASDAQ technology companies, one row per business day and symbol "
    "(2023-2024; synthetic).",
    "orders": "Sales order lines of a food wholesaler, one row per order, 2023-2024 (synthetic).",
}
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "nasdaq": {
        "date": "trading day (Monday to Friday)",
        "symbol": "ticker symbol, e.g. AAPL",
        "open": "first trade price of the day in USD",
        "close": "last trade price of the day in USD",
        "volume": "number of shares traded that day",
    },
    "orders": {
        "order_id": "unique order number, increasing with order_date",
        "customer": "company name of the buying customer",
        "country": "country the customer is based in",
        "product": "product name; each product belongs to exactly one category",
        "quantity": "units ordered",
        "unit_price": "price of one unit in USD before discount",
        "discount": "fraction taken off the price, e.g. 0.1 = 10%; "
        "revenue = quantity * unit_price * (1 - discount)",
    },
}


def generate_northwind(settings: Settings) -> list[TableInfo]:
    """Write the ``northwind`` sample tables under the warehouse and register them; same bytes every time."""
    tables = {"nasdaq": nasdaq_table(), "orders": orders_table()}
    return register_tables(settings, DATABASE, tables, TABLE_COMMENTS, COLUMN_COMMENTS)


def register_tables(
    settings: Settings,
    database: str,
    tables: dict[str, pa.Table],
    comments: dict[str, str],
    column_comments: dict[str, dict[str, str]],
) -> list[TableInfo]:
    """Write each table as Parquet under the warehouse and register it in the local catalog with its
    comments: how every generated dataset (northwind and the development sets) lands in the catalog."""
    catalog = LocalCatalog(settings)
    infos = []
    for name, table in tables.items():
        directory = settings.warehouse / database / name
        write_parquet(table, directory)
        info = catalog.add(
            database,
            name,
            directory,
            fmt="parquet",
            comment=comments[name],
            column_comments=column_comments[name],
        )
        infos.append(info)
    return infos


def write_parquet(table: pa.Table, directory: Path) -> None:
    """Replace ``directory`` with one holding ``data.parquet`` (written to a temporary file first)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    staging = directory / ".data.parquet.tmp"
    pq.write_table(table, staging, compression="snappy")
    os.replace(staging, directory / "data.parquet")


def business_days(start: date, end: date) -> np.ndarray:
    """Monday-to-Friday dates from ``start`` to ``end`` inclusive, as ``datetime64[D]``."""
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1, dtype="datetime64[D]")
    return days[np.is_busday(days)]


def nasdaq_table() -> pa.Table:
    """Daily OHLC prices and volumes: a seeded random walk per symbol."""
    rng = np.random.default_rng(42)
    days = business_days(date(2023, 1, 2), date(2024, 12, 31))
    parts = [_price_walk(rng, len(days), *params) for params in SYMBOLS.values()]
    n, k = len(days), len(SYMBOLS)
    columns = {key: np.stack([p[key] for p in parts], axis=1).reshape(-1) for key in parts[0]}
    return pa.table(
        {
            "date": pa.array(np.repeat(days, k), pa.date32()),
            "symbol": pa.array(np.tile(list(SYMBOLS), n), pa.string()),
            **{key: pa.array(columns[key], pa.float64()) for key in ("open", "high", "low", "close")},
            "volume": pa.array(columns["volume"], pa.int64()),
        }
    )


def _price_walk(
    rng: np.random.Generator, n: int, start: float, drift: float, vol: float, volume: int
) -> dict[str, np.ndarray]:
    """One symbol's ``n`` days: opens gap from the last close, closes move by a lognormal return."""
    returns = rng.normal(drift / 252, vol, n)
    gaps = rng.normal(0, vol / 4, n)
    closes = start * np.exp(np.cumsum(returns + gaps))
    opens = np.concatenate([[start], closes[:-1]]) * np.exp(gaps)
    opens, closes = np.round(opens, 2), np.round(closes, 2)
    highs = np.round(np.maximum(opens, closes) * (1 + np.abs(rng.normal(0, vol / 2, n))), 2)
    lows = np.round(np.minimum(opens, closes) * (1 - np.abs(rng.normal(0, vol / 2, n))), 2)
    move = np.abs(closes - opens) / opens / vol  # busy days trade more
    volumes = (volume * rng.lognormal(0, 0.25, n) * (1 + 0.5 * move)).astype(np.int64)
    return {
        "open": opens,
        "high": np.maximum(highs, np.maximum(opens, closes)),
        "low": np.minimum(lows, np.minimum(opens, closes)),
        "close": closes,
        "volume": volumes,
    }


def orders_table(n: int = 5000) -> pa.Table:
    """``n`` orders over 2023-2024 with seasonality, growth in 2024 and a few large customers."""
    rng = np.random.default_rng(7)
    customers, customer_countries = _customers(rng)
    dates = _order_dates(rng, n)
    buyer = rng.choice(len(customers), n, p=_zipf(len(customers)))
    categories = [_category(rng, int(month)) for month in dates.astype("datetime64[M]").astype(int) % 12 + 1]
    products = [str(rng.choice(list(PRODUCTS[c]))) for c in categories]
    quantities = np.minimum(rng.geometric(0.08, n), 120)
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    prices = [
        _price(product, cat, year) for product, cat, year in zip(products, categories, years, strict=True)
    ]
    discounts = _discounts(rng, quantities)
    return pa.table(
        {
            "order_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "order_date": pa.array(dates, pa.date32()),
            "customer": pa.array([customers[i] for i in buyer], pa.string()),
            "country": pa.array([customer_countries[i] for i in buyer], pa.string()),
            "category": pa.array(categories, pa.string()),
            "product": pa.array(products, pa.string()),
            "quantity": pa.array(quantities, pa.int32()),
            "unit_price": pa.array(prices, pa.float64()),
            "discount": pa.array(discounts, pa.float64()),
        }
    )


def _customers(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """200 company names, shuffled, each based in one country."""
    names = [f"{prefix} {suffix}" for prefix in _PREFIXES for suffix in _SUFFIXES]
    names = [names[i] for i in rng.permutation(len(names))]
    weights = np.array(list(COUNTRIES.values()))
    countries = rng.choice(list(COUNTRIES), len(names), p=weights / weights.sum())
    return names, [str(c) for c in countries]


def _order_dates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sorted dates: more in Q4, fewer at weekends, about 25% more in 2024 than in 2023."""
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2025-01-01"), dtype="datetime64[D]")
    months = days.astype("datetime64[M]").astype(int) % 12
    weights = np.array(MONTH_WEIGHTS)[months] * np.where(np.is_busday(days), 1.0, 0.35)
    weights *= np.where(days >= np.datetime64("2024-01-01"), 1.25, 1.0)
    return np.sort(rng.choice(days, n, p=weights / weights.sum()))


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** 0.8
    return weights / weights.sum()


def _category(rng: np.random.Generator, month: int) -> str:
    weights = np.array([2.0 if month in CATEGORY_PEAKS.get(c, ()) else 1.0 for c in PRODUCTS])
    return str(rng.choice(list(PRODUCTS), p=weights / weights.sum()))


def _price(product: str, category: str, year: int) -> float:
    """The list price, 5% higher in 2024."""
    return round(PRODUCTS[category][product] * (1.05 if year >= 2024 else 1.0), 2)


def _discounts(rng: np.random.Generator, quantities: np.ndarray) -> np.ndarray:
    """Mostly none; large orders get a discount more often."""
    draws = rng.choice(DISCOUNTS, len(quantities), p=[0.6, 0.15, 0.12, 0.08, 0.05])
    bulk = rng.choice(DISCOUNTS[1:], len(quantities), p=[0.3, 0.35, 0.2, 0.15])
    return np.where((quantities >= 40) & (draws == 0.0), bulk, draws)

"""Fargate rates from the AWS Price List API, with the shipped table as the fallback.

``refresh_price_table(session, regions)`` asks the Price List API (``pricing``
``get_products``, ServiceCode AmazonECS) for each region's Fargate on-demand rates and
returns a table in the shape of ``helpers/data/fargate_prices.json``, plus where each
region's figures came from. When the API does not answer (no credentials for it, no
network, or a backend without a pricing service, such as the embedded one) the
shipped table is used and the source says so. Spot is not in the on-demand terms: it
stays a configurable discount.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from helpers.cost import price_table

SERVICE_CODE = "AmazonECS"
#: The Price List API answers in us-east-1 (also ap-south-1 and eu-central-1).
PRICING_REGION = "us-east-1"
#: The Price List's "location" attribute for each region with shipped rates (and a few more).
LOCATIONS = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)",
    "eu-central-1": "EU (Frankfurt)", "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-southeast-1": "Asia Pacific (Singapore)", "ap-southeast-2": "Asia Pacific (Sydney)",
}
REGION_OF_LOCATION = {v: k for k, v in LOCATIONS.items()}
#: Usage-type prefixes are billing codes, not region codes (eu-west-1 is "EU-"); no prefix means us-east-1.
REGION_OF_PREFIX = {
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2", "EU": "eu-west-1",
    "EUW2": "eu-west-2", "EUC1": "eu-central-1", "APN1": "ap-northeast-1", "APS1": "ap-southeast-1",
    "APS2": "ap-southeast-2",
}

# Usage types look like "USE1-Fargate-ARM-vCPU-Hours:perCPU" (a region prefix, sometimes absent).
_USAGE = re.compile(
    r"^(?:(?P<prefix>[A-Z0-9]+)-)?Fargate-(?P<kind>ARM-|Windows-OS-|Windows-|EphemeralStorage-)?(?P<unit>vCPU|GB|OS)-Hours"
    r"(?::perCPU)?$"
)


def classify_usage_type(usage_type: str) -> tuple[str, str] | None:
    """(platform or "", dimension) for a Fargate usage type: ("linux_arm", "vcpu"), ("", "windows_os_license"),
    ("", "ephemeral_storage")...; None for anything else (Spot, EKS, data transfer)."""
    match = _USAGE.match(usage_type or "")
    if not match:
        return None
    kind, unit = match["kind"] or "", match["unit"]
    if kind == "EphemeralStorage-":
        return ("", "ephemeral_storage") if unit == "GB" else None
    if kind == "Windows-OS-" or unit == "OS":
        return ("", "windows_os_license")
    platform = {"": "linux_x86", "ARM-": "linux_arm", "Windows-": "windows_x86"}[kind]
    return platform, "vcpu" if unit == "vCPU" else "gb"


def region_of_usage_type(usage_type: str) -> str | None:
    """The region a Fargate usage type bills in, from its prefix ("EU-Fargate-GB-Hours" -> "eu-west-1"; no
    prefix: us-east-1); None for an unknown prefix or a usage type that is not Fargate's."""
    match = _USAGE.match(usage_type or "")
    if not match:
        return None
    return REGION_OF_PREFIX.get(match["prefix"]) if match["prefix"] else "us-east-1"


def parse_price_list(price_list: Iterable[str | Mapping]) -> pd.DataFrame:
    """One row per Fargate on-demand price: region, usage_type, platform, dimension, usd, unit, effective_date.

    ``price_list``: the ``PriceList`` entries of ``get_products`` answers (JSON strings, as the API sends them).
    """
    rows = []
    for entry in price_list:
        item = json.loads(entry) if isinstance(entry, str) else entry
        attributes = item.get("product", {}).get("attributes", {})
        kind = classify_usage_type(attributes.get("usagetype", ""))
        region = (attributes.get("regionCode") or REGION_OF_LOCATION.get(attributes.get("location", ""))
                  or region_of_usage_type(attributes.get("usagetype", "")))
        if kind is None or region is None:
            continue
        for term in (item.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                rows.append({
                    "region": region, "usage_type": attributes["usagetype"], "platform": kind[0],
                    "dimension": kind[1], "usd": float(dimension["pricePerUnit"]["USD"]),
                    "unit": dimension.get("unit"), "effective_date": term.get("effectiveDate"),
                })
    columns = ["region", "usage_type", "platform", "dimension", "usd", "unit", "effective_date"]
    return pd.DataFrame(rows, columns=columns)


FIGURES = [(p, d) for p in ("linux_x86", "linux_arm", "windows_x86") for d in ("vcpu", "gb")] + [
    ("", "windows_os_license"), ("", "ephemeral_storage")]


def rates_from_prices(prices: pd.DataFrame) -> dict[str, dict[tuple[str, str], float]]:
    """Per region, the figures found: {(platform, dimension): USD}, e.g. {("linux_arm", "vcpu"): 0.03238}."""
    rates: dict[str, dict[tuple[str, str], float]] = {}
    for region, platform, dimension, usd in prices[["region", "platform", "dimension", "usd"]].itertuples(index=False):
        rates.setdefault(str(region), {})[(platform, dimension)] = float(usd)
    return rates


def merge_rates(table: Mapping, found: Mapping[str, Mapping[tuple[str, str], float]]) -> tuple[dict, dict[str, int]]:
    """A copy of ``table`` with the figures ``found`` written over it, and how many figures each region got.

    A region the table lacks is added only when every figure was found.
    """
    merged = copy.deepcopy(dict(table))
    counts: dict[str, int] = {}
    for region, figures in found.items():
        if region not in merged["regions"]:
            if not all(f in figures for f in FIGURES):
                continue
            merged["regions"][region] = {p: {} for p in ("linux_x86", "linux_arm", "windows_x86")}
        rates = merged["regions"][region]
        for (platform, dimension), usd in figures.items():
            if platform:
                rates[platform][dimension] = usd
            else:
                rates[dimension] = usd
        counts[region] = len([f for f in figures if f in FIGURES])
    return merged, counts


def fetch_price_list(session: boto3.Session, regions: Iterable[str]) -> list[str]:
    """Every AmazonECS price entry of ``regions`` (paginated, 100 a page)."""
    # Optional data with a fallback: fail fast rather than retry for half a minute.
    client = session.client("pricing", region_name=PRICING_REGION,
                            config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5))
    entries: list[str] = []
    for region in regions:
        filters = [{"Type": "TERM_MATCH", "Field": "location", "Value": LOCATIONS.get(region, region)}]
        pages = client.get_paginator("get_products").paginate(ServiceCode=SERVICE_CODE, Filters=filters,
                                                              FormatVersion="aws_v1",
                                                              PaginationConfig={"PageSize": 100})
        for page in pages:
            entries += page.get("PriceList", [])
    return entries


def refresh_price_table(session: boto3.Session, regions: Iterable[str]) -> tuple[dict, pd.DataFrame]:
    """A rate table with the Price List API's figures where it answers, the shipped ones elsewhere.

    Returns the table (pass it as ``table=`` to ``helpers.cost``) and one row per region saying where its
    figures come from.
    """
    regions = list(dict.fromkeys(regions))
    shipped = price_table()
    found: dict = {}
    reason = ""
    try:
        found = rates_from_prices(parse_price_list(fetch_price_list(session, regions)))
    except (BotoCoreError, ClientError, ValueError, KeyError) as exc:
        reason = f"Price List API unavailable ({type(exc).__name__})"
    table, counts = merge_rates(shipped, {r: f for r, f in found.items() if r in regions})
    today = datetime.now(UTC).date().isoformat()
    fallback = f"shipped table ({shipped['source']}, {shipped['retrieved']})"
    sources = []
    for region in regions:
        n = counts.get(region, 0)
        if n == len(FIGURES):
            source = f"Price List API (AmazonECS), {today}"
        elif n:
            source = f"Price List API (AmazonECS), {today}, for {n} of {len(FIGURES)} figures; the rest: {fallback}"
        elif region in table["regions"]:
            source = f"{fallback}: {reason or 'the Price List API had no Fargate rates for it'}"
        else:
            source = "no rates: costs in this region are unknown"
        sources.append({"region": region, "source": source})
    return table, pd.DataFrame(sources, columns=["region", "source"])


def rate_table(table: Mapping, regions: Iterable[str]) -> pd.DataFrame:
    """The rates a notebook prices with, one row per region and platform: USD per vCPU-hour and per GB-hour.

    A region the table has no rates for has no row (its costs are unknown, as ``refresh_price_table`` says).
    """
    rows = [{"region": region, "platform": platform, "usd_per_vcpu_hour": rates["vcpu"], "usd_per_gb_hour": rates["gb"]}
            for region in dict.fromkeys(regions) for platform, rates in table["regions"].get(region, {}).items()
            if isinstance(rates, Mapping)]
    return pd.DataFrame(rows, columns=["region", "platform", "usd_per_vcpu_hour", "usd_per_gb_hour"])

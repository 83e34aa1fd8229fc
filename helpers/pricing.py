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

# Usage types look like "USE1-Fargate-ARM-vCPU-Hours:perCPU" (a region prefix, sometimes absent).
_USAGE = re.compile(
    r"^(?:[A-Z0-9]+-)?Fargate-(?P<kind>ARM-|Windows-OS-|Windows-|EphemeralStorage-)?(?P<unit>vCPU|GB|OS)-Hours"
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


def parse_price_list(price_list: Iterable[str | Mapping]) -> pd.DataFrame:
    """One row per Fargate on-demand price: region, usage_type, platform, dimension, usd, unit, effective_date.

    ``price_list``: the ``PriceList`` entries of ``get_products`` answers (JSON strings, as the API sends them).
    """
    rows = []
    for entry in price_list:
        item = json.loads(entry) if isinstance(entry, str) else entry
        attributes = item.get("product", {}).get("attributes", {})
        kind = classify_usage_type(attributes.get("usagetype", ""))
        region = attributes.get("regionCode") or REGION_OF_LOCATION.get(attributes.get("location", ""))
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


def rates_from_prices(prices: pd.DataFrame) -> dict[str, dict]:
    """Per-region rates in the shipped table's shape, for the regions where every figure was found."""
    regions: dict[str, dict] = {}
    for region, group in prices.groupby("region"):
        found = {(p, d): usd for p, d, usd in group[["platform", "dimension", "usd"]].itertuples(index=False)}
        try:
            regions[str(region)] = {
                **{p: {"vcpu": found[(p, "vcpu")], "gb": found[(p, "gb")]}
                   for p in ("linux_x86", "linux_arm", "windows_x86")},
                "windows_os_license": found[("", "windows_os_license")],
                "ephemeral_storage": found[("", "ephemeral_storage")],
            }
        except KeyError:
            continue  # incomplete: keep the shipped figures for this region
    return regions


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
    table = copy.deepcopy(price_table())
    fetched: dict[str, dict] = {}
    reason = ""
    try:
        fetched = rates_from_prices(parse_price_list(fetch_price_list(session, regions)))
    except (BotoCoreError, ClientError, ValueError, KeyError) as exc:
        reason = f"Price List API unavailable ({type(exc).__name__})"
    today = datetime.now(UTC).date().isoformat()
    sources = []
    for region in regions:
        if region in fetched:
            table["regions"][region] = fetched[region]
            sources.append({"region": region, "source": f"Price List API (AmazonECS), {today}"})
        elif region in table["regions"]:
            why = reason or "Price List API had no complete Fargate rates"
            sources.append({"region": region,
                            "source": f"shipped table ({table['source']}, {table['retrieved']}): {why}"})
        else:
            sources.append({"region": region, "source": "no rates: costs in this region are unknown"})
    return table, pd.DataFrame(sources, columns=["region", "source"])

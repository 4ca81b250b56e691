"""The Iceberg REST catalog: one property set, used by pyiceberg here and by Spark in `spark/session.py`.

Requests to the catalog are SigV4-signed, as against AWS's own Iceberg REST endpoints (unsigned,
with anonymous S3 access, when `settings.s3.signed` is off: see `S3Settings`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pyiceberg.catalog.rest import RestCatalog

from services.platform.settings import Settings

CATALOG_NAME = "lake"


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg properties for the catalog and its S3 FileIO."""
    aws = settings.aws
    props = {
        "type": "rest",
        "uri": settings.catalog.uri,
        "warehouse": settings.catalog.warehouse,
        "rest.sigv4-enabled": str(settings.s3.signed).lower(),
        "rest.signing-name": settings.catalog.signing_name,
        "rest.signing-region": aws.region,
        "client.region": aws.region,
        "s3.region": aws.region,
    }
    if settings.s3.endpoint_url:
        props |= {"s3.endpoint": settings.s3.endpoint_url, "s3.path-style-access": "true"}
    if not settings.s3.signed:
        props["s3.anonymous"] = "true"
    elif keys := aws.keys():
        key, secret = keys
        props |= {
            "client.access-key-id": key,
            "client.secret-access-key": secret,
            "s3.access-key-id": key,
            "s3.secret-access-key": secret,
        }
    return props


def _sign_body_hash(catalog: RestCatalog) -> None:
    """Send `x-amz-content-sha256` on signed requests that carry a body.

    pyiceberg 0.12 signs POST bodies without this header, which SigV4 servers that
    verify payloads (SeaweedFS, S3 Tables) reject with a signature mismatch. The hook
    adds it before pyiceberg's own signing runs. Remove once pyiceberg sends it itself.
    """
    adapter = catalog._session.get_adapter(catalog.uri)
    sign = adapter.add_headers

    def add_headers(request: Any, **kwargs: Any) -> None:
        if request.body:
            body = request.body if isinstance(request.body, bytes) else request.body.encode()
            request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        sign(request, **kwargs)

    adapter.add_headers = add_headers


def iceberg_catalog(settings: Settings) -> RestCatalog:
    """A pyiceberg REST catalog client for the lakehouse."""
    # auth "noop": signing is SigV4's job; without it pyiceberg sends `Bearer None`.
    catalog = RestCatalog(CATALOG_NAME, **catalog_properties(settings), auth={"type": "noop"})
    _sign_body_hash(catalog)
    return catalog

"""The "reporter" process of the three-process test: a service calling orders through
``ClientCredentialsAuth``. The secret comes from the environment (never argv, which
``ps`` shows); it prints the statuses and the number of token requests as JSON.

    REPORTER_SECRET=... python _reporter.py TOKEN_URL CLIENT_ID ORDERS_URL RESOURCE CALLS
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx

from authgate.verifier import ClientCredentialsAuth


async def main() -> None:
    token_url, client_id, orders_url, resource, calls = sys.argv[1:6]
    auth = ClientCredentialsAuth(
        token_url, client_id, os.environ["REPORTER_SECRET"], resource=resource
    )
    async with httpx.AsyncClient(base_url=orders_url, auth=auth) as http:
        burst = await asyncio.gather(*(http.get("/api/orders") for _ in range(int(calls))))
        one_by_one = [(await http.get("/api/orders")).status_code for _ in range(5)]
    print(
        json.dumps(
            {
                "statuses": [r.status_code for r in burst] + one_by_one,
                "token_requests": auth.requests_sent,
                "caller": burst[0].json().get("caller") if burst[0].is_success else None,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())

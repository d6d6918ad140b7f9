"""The browser pages of ``authgate serve``: sign in / sign up at ``/`` and the account
page at ``/account``, on the cookie transport (``__Host-`` cookies, double-submit CSRF).

Server-rendered Jinja2 templates with one small stylesheet and one small script,
shipped in the package: no build step, no CDN.
"""

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.pages.router import pages_router

__all__ = ["pages_router"]

"""Imported first by each package of the auth server (service, store, passwords,
endpoints, pages, server): without the ``server`` extra it fails at once with the
install line (see :mod:`authgate._extras`)."""

from authgate._extras import require_server

require_server("authgate's auth server")

"""Message bodies: Jinja2 templates shipped in ``email_templates/``, each overridable
by a file of the same name in ``AUTHGATE_EMAIL__TEMPLATES_DIR``. Every message has a
plain-text body (``<name>.txt``) and an HTML one (``<name>.html``, autoescaped).
Links are built from ``AUTHGATE_PUBLIC_URL`` (where the pages live) or the issuer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from authgate.service.mailer import Message
from authgate.settings import Settings

__all__ = ["MailTemplates"]

_SHIPPED = Path(__file__).parent / "email_templates"

_SUBJECTS = {
    "reset": "Reset your {product} password",
    "verify": "Confirm your {product} email address",
    "email_change": "Confirm your new {product} email address",
    "email_change_notice": "Your {product} email address is being changed",
    "password_changed": "Your {product} password was changed",
    "recovery_code_used": "A {product} recovery code was used",
}


class MailTemplates:
    def __init__(self, settings: Settings) -> None:
        loaders = [FileSystemLoader(_SHIPPED)]
        if settings.email.templates_dir is not None:
            loaders.insert(0, FileSystemLoader(settings.email.templates_dir))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self.base_url = (settings.public_url or settings.issuer).rstrip("/")
        self.product = settings.email.product_name or urlsplit(self.base_url).hostname or "authgate"
        self.minutes = settings.email.token_ttl // 60

    def link(self, path: str, token: str | None = None) -> str:
        """An absolute page URL; a token goes in the fragment, which a browser never
        sends to the server (SECURITY.md A.7 #57)."""
        return f"{self.base_url}{path}" + (f"#token={token}" if token else "")

    def render(self, name: str, recipient: str, **context: Any) -> Message:
        subject = _SUBJECTS[name].format(product=self.product)
        values = {
            "product": self.product,
            "base_url": self.base_url,
            "minutes": self.minutes,
            "subject": subject,
            **context,
        }
        return Message(
            recipient=recipient,
            subject=subject,
            text_body=self.env.get_template(f"{name}.txt").render(values),
            html_body=self.env.get_template(f"{name}.html").render(values),
        )

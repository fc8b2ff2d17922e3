"""Connection-form fields for Airflow 3.1, built from the declarative ``conn-fields`` that 3.2+ reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def form_widgets(fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """WTForms fields for each declared extra; secrets (``format: password``) get password inputs."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import PasswordField, StringField

    widgets: dict[str, Any] = {}
    for name, spec in fields.items():
        secret = spec["schema"].get("format") == "password"
        field_cls, widget = (
            (PasswordField, BS3PasswordFieldWidget()) if secret else (StringField, BS3TextFieldWidget())
        )
        widgets[name] = field_cls(
            lazy_gettext(spec["label"]), widget=widget, description=spec.get("description", "")
        )
    return widgets


def field_behaviour(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The legacy ``get_ui_field_behaviour`` shape of a declarative ``ui-field-behaviour``."""
    return {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }

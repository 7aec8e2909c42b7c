"""`metricx conversions list|create|delete`: a workspace's named conversions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import JsonFlag, emit, in_transaction, parse_uuid
from metricx.runtime import Runtime


def _row(row: Any) -> dict[str, Any]:
    from metricx.conversions.service import counted_types

    return {
        "id": str(row.id),
        "name": row.name,
        "action_types": list(row.action_types),
        "custom_conversion_ids": list(row.custom_conversion_ids),
        "value_source": row.value_source,
        "fixed_value": None if row.fixed_value is None else format(row.fixed_value, "f"),
        "counted_action_types": counted_types(row),
    }


def register(app: typer.Typer) -> None:
    conversions_app = typer.Typer(help="Named conversions of a workspace.", no_args_is_help=True)
    app.add_typer(conversions_app, name="conversions")

    @conversions_app.command("list")
    def conversions_list(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """The workspace's named conversions."""
        from metricx.conversions.service import list_conversions

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            return {"conversions": [_row(r) for r in list_conversions(session, workspace_id=ws_id)]}

        out = in_transaction(as_json, work)
        lines = [
            f"{c['name']}: {', '.join(c['counted_action_types'])} ({c['value_source']})"
            for c in out["conversions"]
        ]
        emit(out, as_json, "\n".join(lines) or "no conversions")

    @conversions_app.command("create")
    def conversions_create(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        name: Annotated[str, typer.Option(help="Its name (unique in the workspace).")],
        action_type: Annotated[
            list[str] | None, typer.Option(help="A Meta action type it counts (repeatable).")
        ] = None,
        custom_conversion: Annotated[
            list[str] | None, typer.Option(help="A custom conversion id it counts (repeatable).")
        ] = None,
        value_source: Annotated[
            str, typer.Option(help="action_values, none or fixed.")
        ] = "action_values",
        fixed_value: Annotated[
            str | None, typer.Option(help="The value per conversion (value source fixed).")
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Name a conversion: usable as ``conversion=<name>`` in the query API."""
        from pydantic import ValidationError

        from metricx.conversions.schemas import ConversionCreate
        from metricx.conversions.service import create_conversion
        from metricx.errors import InvalidInput

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            try:
                body = ConversionCreate.model_validate(
                    {
                        "name": name,
                        "action_types": action_type or [],
                        "custom_conversion_ids": custom_conversion or [],
                        "value_source": value_source,
                        "fixed_value": fixed_value,
                    }
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise InvalidInput(f"{where}: {first['msg']}") from None
            return _row(create_conversion(session, workspace_id=ws_id, body=body))

        out = in_transaction(as_json, work)
        emit(out, as_json, f"created {out['name']}: {out['id']}")

    @conversions_app.command("delete")
    def conversions_delete(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        conversion: Annotated[str, typer.Option(help="The conversion id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """Remove a named conversion."""
        from metricx.conversions.service import delete_conversion

        ws_id = parse_uuid(workspace, "--workspace", as_json)
        conv_id = parse_uuid(conversion, "--conversion", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            delete_conversion(session, workspace_id=ws_id, conversion_id=conv_id)
            return {"deleted": str(conv_id)}

        out = in_transaction(as_json, work)
        emit(out, as_json, f"deleted {out['deleted']}")

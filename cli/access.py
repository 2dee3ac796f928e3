"""API keys (``dihr keys …``) and the audit trail (``dihr audit``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli._common import JsonOpt, friendly, new_app, store_of
from graph.access import audit_entries, authenticate, create_key, list_keys, revoke_key, verify_audit
from graph.errors import Unauthenticated, UsageError

app = new_app("Accès : clés d'API et journal d'audit.")
keys_app = new_app("Gère les clés d'API (rôles partner, erhr, gnchr).")


@keys_app.command("create")
@friendly
def keys_create(
    role: Annotated[str, typer.Option(help="partner, erhr ou gnchr.")],
    territory: Annotated[str | None, typer.Option(help="Territoire ERHR (rôle erhr), ex. NE.")] = None,
    label: Annotated[str, typer.Option(help="Libellé (à qui la clé est remise).")] = "",
) -> None:
    """Crée une clé ; elle est affichée une seule fois (seule son empreinte est conservée)."""

    _, store = store_of()
    try:
        info, secret = create_key(store, role, territory=territory, label=label)
    finally:
        store.close()
    typer.echo(
        f"Clé {info.key_id} ({info.role.value}{' ' + info.territory if info.territory else ''}) créée."
    )
    typer.echo("Conservez-la maintenant, elle ne sera plus affichée :")
    typer.echo(secret)


@keys_app.command("demo")
@friendly
def keys_demo() -> None:
    """La clé « gnchr » de démonstration locale (make run) : la même d'un lancement à
    l'autre tant qu'elle est valide (gardée dans DIHR_DATA_DIR, lisible par vous
    seul) ; sinon une nouvelle, et l'ancienne est révoquée — ce qui est dit."""
    settings, store = store_of()
    path = settings.data_dir / DEMO_KEY_FILE
    replaced: list[str] = []
    try:
        kept = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if kept:
            try:
                principal = authenticate(store, kept, origin="cli")
            except Unauthenticated:
                kept = ""
            else:
                typer.echo(
                    f"Clé d'API de démonstration conservée (rôle gnchr, {principal.key_id}) — "
                    "en-tête « Authorization: Bearer … » :"
                )
                typer.echo(kept)
                return
        for old in list_keys(store):
            if old.label == _DEMO_LABEL and not old.revoked_at:
                revoke_key(store, old.key_id)
                replaced.append(old.key_id)
        info, secret = create_key(store, "gnchr", label=_DEMO_LABEL)
        path.write_text(secret + "\n", encoding="utf-8")
        path.chmod(0o600)
    finally:
        store.close()
    if replaced:
        typer.echo(
            f"L'ancienne clé de démonstration ({', '.join(replaced)}) n'était plus lisible ou valide : "
            "elle est révoquée, utilisez la nouvelle."
        )
    typer.echo(
        f"Clé d'API de démonstration (rôle gnchr, {info.key_id}) — en-tête « Authorization: Bearer … » :"
    )
    typer.echo(secret)


#: Where `dihr keys demo` keeps the local demonstration key (never for a real deployment).
DEMO_KEY_FILE = "cle-demonstration.txt"
_DEMO_LABEL = "démonstration locale (make run)"


@keys_app.command("list")
@friendly
def keys_list(as_json: JsonOpt = False) -> None:
    """Liste les clés (jamais leur valeur)."""

    _, store = store_of()
    try:
        keys = list_keys(store)
    finally:
        store.close()
    rows = [
        {
            "id": k.key_id,
            "role": k.role.value,
            "territory": k.territory,
            "label": k.label,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = f"révoquée le {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(f"{r['id']}  {r['role']:<8} {r['territory'] or '—':<6} {state:<30} {r['label']}")


@keys_app.command("revoke")
@friendly
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Identifiant de la clé.")]) -> None:
    """Révoque une clé : elle est refusée dès la requête suivante."""

    _, store = store_of()
    try:
        info = revoke_key(store, key_id)
    finally:
        store.close()
    typer.echo(f"Clé {info.key_id} révoquée ({info.revoked_at}).")


@app.command("audit")
@friendly
def audit_cmd(
    situation: Annotated[str | None, typer.Option(help="Seulement les accès à cette situation.")] = None,
    key: Annotated[str | None, typer.Option(help="Seulement les accès de cette clé.")] = None,
    since: Annotated[str | None, typer.Option(help="Depuis cette date (AAAA-MM-JJ).")] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Vérifier que le journal n'a pas été modifié (chaînage).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Journal des lectures et écritures de données de situations, et des demandes d'agrégats."""

    _, store = store_of()
    try:
        if verify:
            check = verify_audit(store)
        else:
            entries = audit_entries(store, situation=situation, key_id=key, since=since)
    finally:
        store.close()
    if verify:
        for problem in check.problems:
            typer.echo(f"✗ {problem}")
        old = (
            f" ; {check.unchained} entrée(s) antérieure(s) au chaînage, non vérifiables"
            if check.unchained
            else ""
        )
        if check.problems:
            raise UsageError(
                f"Journal d'audit altéré : {len(check.problems)} anomalie(s) sur {check.entries} entrées."
            )
        typer.echo(f"Journal d'audit intact : {check.entries} entrées, {check.chains} chaîne(s){old}.")
        return
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "at": e.at,
                        "key_id": e.key_id,
                        "role": e.role,
                        "territory": e.territory,
                        "operation": e.operation,
                        "situations": list(e.situations),
                        "origin": e.origin,
                        "count": e.count,
                        "params": dict(e.params),
                    }
                    for e in entries
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for e in entries:
        ids = ", ".join(e.situations[:5]) + (" …" if len(e.situations) > 5 else "")
        asked = " ".join(f"{k}={v}" for k, v in e.params)
        typer.echo(
            f"{e.at}  {e.key_id:<12} {e.role:<8} {e.territory or '—':<6} {e.operation:<22} {e.origin:<15} {ids}"
            + (f"  {asked}" if asked else "")
        )
    typer.echo(f"{len(entries)} entrée(s).")

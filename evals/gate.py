"""The quality gate: thresholds from evals/thresholds.toml applied to a run's overall scores.

`[gate.<profile>.min]` / `[gate.<profile>.max]`: deterministic metrics; one outside its
bound fails the run, and so does a gated metric that could not be computed.
`[warn.<profile>.min]`: judge metrics; only warnings (their variance is documented in
evals/README.md). The profile is the subset's name (`all` without --subset).
"""

from __future__ import annotations


def check(results: dict, config: dict, profile: str) -> dict:
    gate = config.get("gate", {}).get(profile)
    if gate is None:
        from .suite import EvalError

        raise EvalError(f"aucun seuil « [gate.{profile}] » dans le fichier de seuils ; profils définis : "
                        f"{', '.join(sorted(config.get('gate', {}))) or 'aucun'}.")
    overall, checks_ = results["overall"], []
    for severity, table in (("échec", gate), ("avertissement", config.get("warn", {}).get(profile, {}))):
        for op, bounds in (("≥", table.get("min", {})), ("≤", table.get("max", {}))):
            for metric, threshold in bounds.items():
                value = overall.get(metric)
                if value is None:
                    status = "NON CALCULÉ"
                    ok = False
                else:
                    ok = value >= threshold if op == "≥" else value <= threshold
                    status = "ok" if ok else "SOUS LE SEUIL" if op == "≥" else "AU-DESSUS DU SEUIL"
                if value is None and severity != "échec" and not results["meta"].get("judge"):
                    ok, status = True, "sans juge"  # not asked for: nothing to warn about
                checks_.append({"metric": metric, "value": value, "op": op, "threshold": threshold,
                                "status": status if ok or severity == "échec" else f"{status} (avertissement)",
                                "fails": not ok and severity == "échec", "warns": not ok and severity != "échec"})
    dataset_errors = results.get("dataset_errors", [])
    return {"profile": profile, "checks": checks_, "dataset_errors": len(dataset_errors),
            "passed": not any(c["fails"] for c in checks_) and not dataset_errors}


def format_gate(gate: dict) -> str:
    lines = [f"Porte de qualité (seuils « {gate['profile']} ») :"]
    for c in gate["checks"]:
        value = "–" if c["value"] is None else f"{c['value']:.3f}"
        mark = "ÉCHEC" if c["fails"] else "attention" if c["warns"] else "sans juge" if c["status"] == "sans juge" else "ok"
        lines.append(f"  [{mark}] {c['metric']} = {value} (seuil {c['op']} {c['threshold']})")
    if gate["dataset_errors"]:
        lines.append(f"  [ÉCHEC] {gate['dataset_errors']} ligne(s) du jeu de questions inutilisable(s)")
    lines.append("Porte RÉUSSIE." if gate["passed"] else "Porte ÉCHOUÉE : la qualité est sous les seuils.")
    return "\n".join(lines)

"""``python -m importers.insee_ages FILE.xlsx``: INSEE's population by department
and five-year age band, shipped as ``graph/data/insee_population_age.csv``.

Source: INSEE, « Estimation de la population au 1er janvier, par département,
sexe et âge quinquennal » (``estim-pop-dep-sexe-aq-1975-2021.xlsx``, results
of March 2021; free reuse, source cited). The sheet of the most recent year is
read, both sexes (« Ensemble »): one row per department, the bands 0-4 …
95+ and the total. Coverage weighs communes by these shares when an age is
given (``graph.coverage``); ``tests/importers/test_reference.py`` checks the
shipped file against INSEE's published figures.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

__all__ = ["BANDS", "convert", "main"]

#: The five-year bands of the INSEE file, as (first, last) ages; 95+ closes at 104.
BANDS = tuple((a, a + 4) for a in range(0, 95, 5)) + ((95, 104),)
_OUT = Path(__file__).resolve().parent.parent / "graph" / "data" / "insee_population_age.csv"


def convert(path: Path) -> str:
    """The shipped CSV's text from INSEE's workbook (raises ValueError naming the
    sheet and row when the layout is not the one documented above)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    years = sorted((name for name in book.sheetnames if name.isdigit()), reverse=True)
    if not years:
        raise ValueError(f"{path.name} : aucune feuille d'année (2021, 2020…).")
    sheet = book[years[0]]
    out = io.StringIO()
    out.write(
        f"# INSEE, estimation de la population au 1er janvier {years[0]} par département et âge quinquennal "
        f"({path.name}, résultats provisoires de mars 2021), deux sexes ; importers/insee_ages.py.\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["departement", "nom", *(f"{a}-{b}" if a < 95 else "95+" for a, b in BANDS), "total"])
    rows = 0
    anomalies: list[str] = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        code = row[0]
        if code is None or not str(code).strip()[:1].isdigit() or row[1] is None:
            continue
        counts = row[2 : 2 + len(BANDS) + 1]
        if not all(isinstance(v, int | float) for v in counts):
            raise ValueError(f"{path.name}, feuille {years[0]}, ligne {number} : effectifs non numériques.")
        if abs(sum(counts[:-1]) - counts[-1]) > 1:  # kept, said: shares are taken over the bands' sum
            anomalies.append(
                f"{str(code).strip()} (ligne {number} : tranches {int(sum(counts[:-1]))}, "
                f"total {int(counts[-1])})"
            )
        writer.writerow([str(code).strip().zfill(2), str(row[1]).strip(), *(int(v) for v in counts)])
        rows += 1
    if rows < 100:
        raise ValueError(f"{path.name}, feuille {years[0]} : {rows} départements lus, 101 attendus.")
    if anomalies:  # in the source file itself: the age shares use the sum of the bands
        return (
            f"# Dans le fichier INSEE, la somme des tranches diffère du total pour : {', '.join(anomalies)} ; "
            "les parts par âge sont prises sur la somme des tranches.\n" + out.getvalue()
        )
    return out.getvalue()


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage : python -m importers.insee_ages estim-pop-dep-sexe-aq-1975-2021.xlsx")
    _OUT.write_text(convert(Path(sys.argv[1])), encoding="utf-8")
    print(f"→ {_OUT}")


if __name__ == "__main__":
    main()

"""How the office-suite files in this folder were made (run by hand, not by the tests).

1. This script writes technician.xlsx with openpyxl: title rows, aliased headers, merged
   sample cells, blank separator rows, an extra column, orientation cells formatted as text.
2. LibreOffice (headless) opens it and saves it as .ods, .xls, .xlsx and a European CSV
   (semicolon, UTF-8): those are the files the tests read, as an office suite writes them.

    python make_office_files.py
    soffice --headless --convert-to ods technician.xlsx
    soffice --headless --convert-to xls technician.xlsx
    mkdir lo && soffice --headless --convert-to xlsx --outdir lo technician.xlsx && mv lo/technician.xlsx technician_libreoffice.xlsx
    soffice --headless --convert-to 'csv:Text - txt - csv (StarCalc):59,34,76,1' --outdir lo technician.xlsx && mv lo/technician.csv technician_european.csv
"""

from openpyxl import Workbook
from openpyxl.styles import Font

TEXT = "@"


def main() -> None:
    book = Workbook()
    ws = book.active
    ws.title = "Stacks 2026"
    ws["A1"] = "Thin-film group: target stacks"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = "Owner: growth lab, updated weekly"
    ws.append([])
    ws.append(["Sample ID", "Sample", "Substrate", "Layer #", "Chemical Formula", "Miller Index",
               "SG", "Materials Project ID", "Grower notes"])
    rows = [
        (101, "BTO/STO", "SrTiO3", 1, "SrTiO3", "001", "Pm-3m", "mp-5229", "buffer"),
        (None, None, None, 2, "BaTiO3", "001", "P4mm", "mp-5020", ""),
        (None, None, None, 3, "SrRuO3", "(001)", None, None, "electrode"),
        None,
        (102, "LSMO/LAO", "LaAlO3", 1, "La0.7Sr0.3MnO3", "[1 1 0]", "R-3c", None, ""),
        (None, None, None, 2, "(Ba0.5Sr0.5)TiO3", "1-10", "99", "MP-5020", "top"),
    ]
    for values in rows:
        ws.append(list(values) if values else [])
    for row in ws.iter_rows(min_row=5, max_row=ws.max_row, min_col=6, max_col=6):
        for cell in row:
            cell.number_format = TEXT
            cell.data_type = "s"
    ws.merge_cells("B5:B7")
    ws.merge_cells("C5:C7")
    book.save("technician.xlsx")


if __name__ == "__main__":
    main()

# formulas_libreoffice.xlsx: a Layers sheet whose layer numbers are =B2+1 and =B3+1, written
# with openpyxl (no stored results) and saved again by LibreOffice, which stores the results:
#     soffice --headless --convert-to xlsx --outdir lo formulas_src.xlsx
# technician_clean.csv: the same stacks as technician.xlsx, typed as a clean CSV.
# merged_libreoffice.ods: sample_id merged over A2:A4 and a formula merged over C3:C4, written
# with openpyxl and saved as .ods by LibreOffice (calamine reports no merged ranges for .ods;
# layer-sync reads them from content.xml).
# formula_errors_libreoffice.xlsx / .ods: a Layers sheet whose composition_string cells are
# =CONCATENAT("Mg","O") (a misspelt function) and =1/0, and an orientation =NA(), written with
# openpyxl and calculated by LibreOffice, which stores the errors they show (#NAME?, #DIV/0!,
# #N/A); calamine reads such cells as blank:
#     soffice --headless --calc --convert-to xlsx --outdir lo errors_src.xlsx
#     soffice --headless --convert-to ods --outdir lo lo/errors_src.xlsx
#     soffice --headless --convert-to xls --outdir lo lo/errors_src.xlsx


# hidden_sheets.xlsx / .ods / .xls: sheet 'Old' hidden and 'Older' very hidden, each with an
# old layer 7/1; 'Stacks' visible and active (written with openpyxl, then converted as above):
#     wb = Workbook(); old = wb.active; old.title = "Old"; old.sheet_state = "hidden"
#     vh = wb.create_sheet("Older"); vh.sheet_state = "veryHidden"
#     new = wb.create_sheet("Stacks"); wb.active = 2   (each: a header and one row)
#     soffice --headless --convert-to ods hidden_sheets.xlsx
#     soffice --headless --convert-to xls hidden_sheets.xlsx

"""The ledger (台账) as an Excel workbook: one table of sheets and columns, read and written from it."""

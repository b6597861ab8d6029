// Payment: wallet key, vouchers, invoices, ledger (filled in by the payment work).

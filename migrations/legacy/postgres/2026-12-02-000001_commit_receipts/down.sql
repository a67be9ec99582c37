DROP TABLE commit_receipts;

DROP TABLE enterprise_accounts;

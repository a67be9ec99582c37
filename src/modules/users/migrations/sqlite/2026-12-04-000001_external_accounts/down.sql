DROP TABLE external_accounts;

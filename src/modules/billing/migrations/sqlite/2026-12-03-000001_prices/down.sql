DROP TABLE billing_prices;

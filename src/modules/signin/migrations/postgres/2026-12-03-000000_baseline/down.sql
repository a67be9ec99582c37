DROP TABLE sign_in_tokens;
DROP TABLE sign_ins;

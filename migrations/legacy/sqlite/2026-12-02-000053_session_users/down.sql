DROP TABLE session_users;

DROP INDEX deleted_users_time_idx;
DROP TABLE deleted_users;

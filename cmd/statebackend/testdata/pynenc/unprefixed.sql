-- A SQLite database as pynenc's SQLiteStateBackend writes it: its DDL,
-- and rows in its forms (REAL epoch timestamps, NULL optional ids, JSON
-- documents as Python's json.dumps writes them).
-- The older layout: one set of unprefixed tables for every app.
CREATE TABLE IF NOT EXISTS state_backend_results (
invocation_id TEXT PRIMARY KEY,
result_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state_backend_exceptions (
invocation_id TEXT PRIMARY KEY,
exception_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state_backend_invocations (
invocation_id TEXT PRIMARY KEY,
call_id_key TEXT NOT NULL,
task_id_key TEXT NOT NULL,
arguments_id TEXT NOT NULL,
serialized_arguments TEXT NOT NULL,
parent_invocation_id TEXT,
parent_call_id TEXT,
workflow_id TEXT NOT NULL,
workflow_type_key TEXT NOT NULL,
parent_workflow_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_state_backend_invocations_parent ON state_backend_invocations(parent_invocation_id);
CREATE TABLE IF NOT EXISTS state_backend_runner_contexts (
runner_id TEXT PRIMARY KEY,
runner_cls TEXT NOT NULL,
parent_ctx_id TEXT,
pid INTEGER NOT NULL,
hostname TEXT NOT NULL,
thread_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state_backend_history (
invocation_id TEXT NOT NULL,
history_timestamp REAL NOT NULL,
history_status TEXT NOT NULL,
history_json TEXT NOT NULL,
PRIMARY KEY (invocation_id, history_timestamp, history_status)
);
CREATE TABLE IF NOT EXISTS state_backend_workflows (
workflow_id TEXT PRIMARY KEY,
workflow_type_key TEXT NOT NULL,
parent_workflow_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_state_backend_workflows_type ON state_backend_workflows(workflow_type_key);
CREATE TABLE IF NOT EXISTS state_backend_app_info (
app_id TEXT PRIMARY KEY,
app_info_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state_backend_workflow_data (
workflow_id TEXT NOT NULL,
data_key TEXT NOT NULL,
data_value BLOB NOT NULL,
PRIMARY KEY (workflow_id, data_key)
);
CREATE TABLE IF NOT EXISTS state_backend_workflow_sub_invocations (
parent_workflow_id TEXT NOT NULL,
sub_invocation_id TEXT NOT NULL,
PRIMARY KEY (parent_workflow_id, sub_invocation_id)
);
INSERT OR REPLACE INTO state_backend_app_info VALUES ('pynenc_app', '{"app_id": "pynenc_app", "module": "myapp.tasks", "config_values": {"state_backend_cls": "SQLiteStateBackend", "sqlite_db_path": "/var/lib/pynenc/state.db", "runner_cls": "ThreadRunner"}, "config_filepath": null, "module_filepath": "/srv/myapp/tasks.py", "app_variable": "app"}');
INSERT OR REPLACE INTO state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ThreadRunner@worker-1-4096-t1', 'ThreadRunner', 'PersistentProcessRunner@worker-1-4096', 4321, 'worker-1', 140001);
INSERT OR REPLACE INTO state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('PersistentProcessRunner@worker-1-4096', 'PersistentProcessRunner', NULL, 4321, 'worker-1', 0);
INSERT OR REPLACE INTO state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ExternalRunner@worker-1-4105', 'ExternalRunner', NULL, 999, 'worker-1', 0);
INSERT OR REPLACE INTO state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 'myapp.tasks.add:6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', 'myapp.tasks.add', '6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', '{"x": "1", "y": "2"}', NULL, '00001001-1c2d-4e5f-8a9b-0000003e8001', 'myapp.tasks.add', NULL);
INSERT OR REPLACE INTO state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00001002-1c2d-4e5f-8a9b-0000003e8002', 'myapp.tasks.tick:no_args', 'myapp.tasks.tick', 'no_args', '{}', NULL, '00001002-1c2d-4e5f-8a9b-0000003e8002', 'myapp.tasks.tick', NULL);
INSERT OR REPLACE INTO state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', 'myapp.tasks.add:2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', 'myapp.tasks.add', '2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', '{"x": "3", "y": "\"quatre\""}', '00001001-1c2d-4e5f-8a9b-0000003e8001', '00001001-1c2d-4e5f-8a9b-0000003e8001', 'myapp.tasks.add', NULL);
INSERT OR REPLACE INTO state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 'myapp.tasks.flow:no_args', 'myapp.tasks.flow', 'no_args', '{}', '00001001-1c2d-4e5f-8a9b-0000003e8001', '00001004-1c2d-4e5f-8a9b-0000003e8004', 'myapp.tasks.flow', '00001001-1c2d-4e5f-8a9b-0000003e8001');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 1736942400.123456, 'registered', '{"invocation_id": "00001001-1c2d-4e5f-8a9b-0000003e8001", "_timestamp": "2025-01-15T12:00:00.123456+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.123456+00:00"}, "runner_context_id": "ExternalRunner@worker-1-4105", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 1736942400.133457, 'pending', '{"invocation_id": "00001001-1c2d-4e5f-8a9b-0000003e8001", "_timestamp": "2025-01-15T12:00:00.133457+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:00.133457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 1736942400.143458, 'running', '{"invocation_id": "00001001-1c2d-4e5f-8a9b-0000003e8001", "_timestamp": "2025-01-15T12:00:00.143458+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:00.143458+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', 1736942400.153459, 'registered', '{"invocation_id": "00001003-1c2d-4e5f-8a9b-0000003e8003", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": "00001001-1c2d-4e5f-8a9b-0000003e8001"}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 1736942400.153459, 'registered', '{"invocation_id": "00001004-1c2d-4e5f-8a9b-0000003e8004", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": "00001001-1c2d-4e5f-8a9b-0000003e8001"}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', 1736942400.16346, 'pending', '{"invocation_id": "00001003-1c2d-4e5f-8a9b-0000003e8003", "_timestamp": "2025-01-15T12:00:00.163460+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:00.163460+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', 1736942400.173461, 'running', '{"invocation_id": "00001003-1c2d-4e5f-8a9b-0000003e8003", "_timestamp": "2025-01-15T12:00:00.173461+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:00.173461+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', 1736942401.123456, 'success', '{"invocation_id": "00001003-1c2d-4e5f-8a9b-0000003e8003", "_timestamp": "2025-01-15T12:00:01.123456+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:01.123456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 1736942401.623456, 'pending', '{"invocation_id": "00001004-1c2d-4e5f-8a9b-0000003e8004", "_timestamp": "2025-01-15T12:00:01.623456+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:01.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 1736942402.373456, 'running', '{"invocation_id": "00001004-1c2d-4e5f-8a9b-0000003e8004", "_timestamp": "2025-01-15T12:00:02.373456+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:02.373456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 1736942402.623456, 'failed', '{"invocation_id": "00001004-1c2d-4e5f-8a9b-0000003e8004", "_timestamp": "2025-01-15T12:00:02.623456+00:00", "status_record": {"status": "failed", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:02.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 1736942403.123457, 'success', '{"invocation_id": "00001001-1c2d-4e5f-8a9b-0000003e8001", "_timestamp": "2025-01-15T12:00:03.123457+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-4096-t1", "timestamp": "2025-01-15T12:00:03.123457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-4096-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00001002-1c2d-4e5f-8a9b-0000003e8002', 1736942500.5, 'registered', '{"invocation_id": "00001002-1c2d-4e5f-8a9b-0000003e8002", "_timestamp": "2025-01-15T12:01:40.500000", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:01:40.500000"}, "runner_context_id": "ExternalRunner@worker-1-4105", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO state_backend_results VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', '3');
INSERT OR REPLACE INTO state_backend_results VALUES ('00001003-1c2d-4e5f-8a9b-0000003e8003', '"3quatre"');
INSERT OR REPLACE INTO state_backend_exceptions VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', '{"error_name": "ValueError", "pynenc_error": false, "error_data": "{\"args\": [\"flow failed\"]}"}');
INSERT OR REPLACE INTO state_backend_workflows VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 'myapp.tasks.add', '');
INSERT OR REPLACE INTO state_backend_workflows VALUES ('00001004-1c2d-4e5f-8a9b-0000003e8004', 'myapp.tasks.flow', '00001001-1c2d-4e5f-8a9b-0000003e8001');
INSERT OR REPLACE INTO state_backend_workflow_data VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 'counter', '5');
INSERT OR REPLACE INTO state_backend_workflow_data VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', 'started_at', '"2025-01-15T12:00:00.123456+00:00"');
INSERT OR REPLACE INTO state_backend_workflow_sub_invocations VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', '00001003-1c2d-4e5f-8a9b-0000003e8003');
INSERT OR REPLACE INTO state_backend_workflow_sub_invocations VALUES ('00001001-1c2d-4e5f-8a9b-0000003e8001', '00001004-1c2d-4e5f-8a9b-0000003e8004');

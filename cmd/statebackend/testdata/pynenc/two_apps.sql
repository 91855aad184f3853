-- A SQLite database as pynenc's SQLiteStateBackend writes it: its DDL,
-- and rows in its forms (REAL epoch timestamps, NULL optional ids, JSON
-- documents as Python's json.dumps writes them).
-- The current layout: each app's tables under its own prefix
-- (orders_1c168adb__ for "orders", billing_v2_bae32160__ for "billing-v2").
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_results (
invocation_id TEXT PRIMARY KEY,
result_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_exceptions (
invocation_id TEXT PRIMARY KEY,
exception_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_invocations (
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
CREATE INDEX IF NOT EXISTS idx_orders_1c168adb__state_backend_invocations_parent ON orders_1c168adb__state_backend_invocations(parent_invocation_id);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_runner_contexts (
runner_id TEXT PRIMARY KEY,
runner_cls TEXT NOT NULL,
parent_ctx_id TEXT,
pid INTEGER NOT NULL,
hostname TEXT NOT NULL,
thread_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_history (
invocation_id TEXT NOT NULL,
history_timestamp REAL NOT NULL,
history_status TEXT NOT NULL,
history_json TEXT NOT NULL,
PRIMARY KEY (invocation_id, history_timestamp, history_status)
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_workflows (
workflow_id TEXT PRIMARY KEY,
workflow_type_key TEXT NOT NULL,
parent_workflow_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_orders_1c168adb__state_backend_workflows_type ON orders_1c168adb__state_backend_workflows(workflow_type_key);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_app_info (
app_id TEXT PRIMARY KEY,
app_info_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_workflow_data (
workflow_id TEXT NOT NULL,
data_key TEXT NOT NULL,
data_value BLOB NOT NULL,
PRIMARY KEY (workflow_id, data_key)
);
CREATE TABLE IF NOT EXISTS orders_1c168adb__state_backend_workflow_sub_invocations (
parent_workflow_id TEXT NOT NULL,
sub_invocation_id TEXT NOT NULL,
PRIMARY KEY (parent_workflow_id, sub_invocation_id)
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_results (
invocation_id TEXT PRIMARY KEY,
result_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_exceptions (
invocation_id TEXT PRIMARY KEY,
exception_data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_invocations (
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
CREATE INDEX IF NOT EXISTS idx_billing_v2_bae32160__state_backend_invocations_parent ON billing_v2_bae32160__state_backend_invocations(parent_invocation_id);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_runner_contexts (
runner_id TEXT PRIMARY KEY,
runner_cls TEXT NOT NULL,
parent_ctx_id TEXT,
pid INTEGER NOT NULL,
hostname TEXT NOT NULL,
thread_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_history (
invocation_id TEXT NOT NULL,
history_timestamp REAL NOT NULL,
history_status TEXT NOT NULL,
history_json TEXT NOT NULL,
PRIMARY KEY (invocation_id, history_timestamp, history_status)
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_workflows (
workflow_id TEXT PRIMARY KEY,
workflow_type_key TEXT NOT NULL,
parent_workflow_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_billing_v2_bae32160__state_backend_workflows_type ON billing_v2_bae32160__state_backend_workflows(workflow_type_key);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_app_info (
app_id TEXT PRIMARY KEY,
app_info_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_workflow_data (
workflow_id TEXT NOT NULL,
data_key TEXT NOT NULL,
data_value BLOB NOT NULL,
PRIMARY KEY (workflow_id, data_key)
);
CREATE TABLE IF NOT EXISTS billing_v2_bae32160__state_backend_workflow_sub_invocations (
parent_workflow_id TEXT NOT NULL,
sub_invocation_id TEXT NOT NULL,
PRIMARY KEY (parent_workflow_id, sub_invocation_id)
);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_app_info VALUES ('orders', '{"app_id": "orders", "module": "shop.orders", "config_values": {"state_backend_cls": "SQLiteStateBackend", "sqlite_db_path": "/var/lib/pynenc/state.db", "runner_cls": "ThreadRunner"}, "config_filepath": null, "module_filepath": "/srv/shop/orders.py", "app_variable": "app"}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ThreadRunner@worker-1-8192-t1', 'ThreadRunner', 'PersistentProcessRunner@worker-1-8192', 4321, 'worker-1', 140001);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('PersistentProcessRunner@worker-1-8192', 'PersistentProcessRunner', NULL, 4321, 'worker-1', 0);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ExternalRunner@worker-1-8201', 'ExternalRunner', NULL, 999, 'worker-1', 0);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 'shop.orders.add:6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', 'shop.orders.add', '6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', '{"x": "1", "y": "2"}', NULL, '00002001-1c2d-4e5f-8a9b-0000007d0001', 'shop.orders.add', NULL);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00002002-1c2d-4e5f-8a9b-0000007d0002', 'shop.orders.tick:no_args', 'shop.orders.tick', 'no_args', '{}', NULL, '00002002-1c2d-4e5f-8a9b-0000007d0002', 'shop.orders.tick', NULL);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', 'shop.orders.add:2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', 'shop.orders.add', '2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', '{"x": "3", "y": "\"quatre\""}', '00002001-1c2d-4e5f-8a9b-0000007d0001', '00002001-1c2d-4e5f-8a9b-0000007d0001', 'shop.orders.add', NULL);
INSERT OR REPLACE INTO orders_1c168adb__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 'shop.orders.flow:no_args', 'shop.orders.flow', 'no_args', '{}', '00002001-1c2d-4e5f-8a9b-0000007d0001', '00002004-1c2d-4e5f-8a9b-0000007d0004', 'shop.orders.flow', '00002001-1c2d-4e5f-8a9b-0000007d0001');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 1736942400.123456, 'registered', '{"invocation_id": "00002001-1c2d-4e5f-8a9b-0000007d0001", "_timestamp": "2025-01-15T12:00:00.123456+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.123456+00:00"}, "runner_context_id": "ExternalRunner@worker-1-8201", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 1736942400.133457, 'pending', '{"invocation_id": "00002001-1c2d-4e5f-8a9b-0000007d0001", "_timestamp": "2025-01-15T12:00:00.133457+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:00.133457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 1736942400.143458, 'running', '{"invocation_id": "00002001-1c2d-4e5f-8a9b-0000007d0001", "_timestamp": "2025-01-15T12:00:00.143458+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:00.143458+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', 1736942400.153459, 'registered', '{"invocation_id": "00002003-1c2d-4e5f-8a9b-0000007d0003", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": "00002001-1c2d-4e5f-8a9b-0000007d0001"}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 1736942400.153459, 'registered', '{"invocation_id": "00002004-1c2d-4e5f-8a9b-0000007d0004", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": "00002001-1c2d-4e5f-8a9b-0000007d0001"}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', 1736942400.16346, 'pending', '{"invocation_id": "00002003-1c2d-4e5f-8a9b-0000007d0003", "_timestamp": "2025-01-15T12:00:00.163460+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:00.163460+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', 1736942400.173461, 'running', '{"invocation_id": "00002003-1c2d-4e5f-8a9b-0000007d0003", "_timestamp": "2025-01-15T12:00:00.173461+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:00.173461+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', 1736942401.123456, 'success', '{"invocation_id": "00002003-1c2d-4e5f-8a9b-0000007d0003", "_timestamp": "2025-01-15T12:00:01.123456+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:01.123456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 1736942401.623456, 'pending', '{"invocation_id": "00002004-1c2d-4e5f-8a9b-0000007d0004", "_timestamp": "2025-01-15T12:00:01.623456+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:01.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 1736942402.373456, 'running', '{"invocation_id": "00002004-1c2d-4e5f-8a9b-0000007d0004", "_timestamp": "2025-01-15T12:00:02.373456+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:02.373456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 1736942402.623456, 'failed', '{"invocation_id": "00002004-1c2d-4e5f-8a9b-0000007d0004", "_timestamp": "2025-01-15T12:00:02.623456+00:00", "status_record": {"status": "failed", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:02.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 1736942403.123457, 'success', '{"invocation_id": "00002001-1c2d-4e5f-8a9b-0000007d0001", "_timestamp": "2025-01-15T12:00:03.123457+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-8192-t1", "timestamp": "2025-01-15T12:00:03.123457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-8192-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00002002-1c2d-4e5f-8a9b-0000007d0002', 1736942500.5, 'registered', '{"invocation_id": "00002002-1c2d-4e5f-8a9b-0000007d0002", "_timestamp": "2025-01-15T12:01:40.500000", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:01:40.500000"}, "runner_context_id": "ExternalRunner@worker-1-8201", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_results VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', '3');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_results VALUES ('00002003-1c2d-4e5f-8a9b-0000007d0003', '"3quatre"');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_exceptions VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', '{"error_name": "ValueError", "pynenc_error": false, "error_data": "{\"args\": [\"flow failed\"]}"}');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflows VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 'shop.orders.add', '');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflows VALUES ('00002004-1c2d-4e5f-8a9b-0000007d0004', 'shop.orders.flow', '00002001-1c2d-4e5f-8a9b-0000007d0001');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflow_data VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 'counter', '5');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflow_data VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', 'started_at', '"2025-01-15T12:00:00.123456+00:00"');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflow_sub_invocations VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', '00002003-1c2d-4e5f-8a9b-0000007d0003');
INSERT OR REPLACE INTO orders_1c168adb__state_backend_workflow_sub_invocations VALUES ('00002001-1c2d-4e5f-8a9b-0000007d0001', '00002004-1c2d-4e5f-8a9b-0000007d0004');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_app_info VALUES ('billing-v2', '{"app_id": "billing-v2", "module": "shop.billing", "config_values": {"state_backend_cls": "SQLiteStateBackend", "sqlite_db_path": "/var/lib/pynenc/state.db", "runner_cls": "ThreadRunner"}, "config_filepath": null, "module_filepath": "/srv/shop/billing.py", "app_variable": "app"}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ThreadRunner@worker-1-12288-t1', 'ThreadRunner', 'PersistentProcessRunner@worker-1-12288', 4321, 'worker-1', 140001);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('PersistentProcessRunner@worker-1-12288', 'PersistentProcessRunner', NULL, 4321, 'worker-1', 0);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_runner_contexts (runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id) VALUES ('ExternalRunner@worker-1-12297', 'ExternalRunner', NULL, 999, 'worker-1', 0);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 'shop.billing.add:6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', 'shop.billing.add', '6d766b6a9b7f620310b52aff8e9ddafc8b079ff4598557aa926276245d7b730a', '{"x": "1", "y": "2"}', NULL, '00003001-1c2d-4e5f-8a9b-000000bb8001', 'shop.billing.add', NULL);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00003002-1c2d-4e5f-8a9b-000000bb8002', 'shop.billing.tick:no_args', 'shop.billing.tick', 'no_args', '{}', NULL, '00003002-1c2d-4e5f-8a9b-000000bb8002', 'shop.billing.tick', NULL);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', 'shop.billing.add:2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', 'shop.billing.add', '2a8347981fa3738fb82dbde59be7ef2922a3c805de77120042c0b199f98f8caf', '{"x": "3", "y": "\"quatre\""}', '00003001-1c2d-4e5f-8a9b-000000bb8001', '00003001-1c2d-4e5f-8a9b-000000bb8001', 'shop.billing.add', NULL);
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_invocations (invocation_id, call_id_key, task_id_key, arguments_id, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key, parent_workflow_id) VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 'shop.billing.flow:no_args', 'shop.billing.flow', 'no_args', '{}', '00003001-1c2d-4e5f-8a9b-000000bb8001', '00003004-1c2d-4e5f-8a9b-000000bb8004', 'shop.billing.flow', '00003001-1c2d-4e5f-8a9b-000000bb8001');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 1736942400.123456, 'registered', '{"invocation_id": "00003001-1c2d-4e5f-8a9b-000000bb8001", "_timestamp": "2025-01-15T12:00:00.123456+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.123456+00:00"}, "runner_context_id": "ExternalRunner@worker-1-12297", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 1736942400.133457, 'pending', '{"invocation_id": "00003001-1c2d-4e5f-8a9b-000000bb8001", "_timestamp": "2025-01-15T12:00:00.133457+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:00.133457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 1736942400.143458, 'running', '{"invocation_id": "00003001-1c2d-4e5f-8a9b-000000bb8001", "_timestamp": "2025-01-15T12:00:00.143458+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:00.143458+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', 1736942400.153459, 'registered', '{"invocation_id": "00003003-1c2d-4e5f-8a9b-000000bb8003", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": "00003001-1c2d-4e5f-8a9b-000000bb8001"}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 1736942400.153459, 'registered', '{"invocation_id": "00003004-1c2d-4e5f-8a9b-000000bb8004", "_timestamp": "2025-01-15T12:00:00.153459+00:00", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:00:00.153459+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": "00003001-1c2d-4e5f-8a9b-000000bb8001"}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', 1736942400.16346, 'pending', '{"invocation_id": "00003003-1c2d-4e5f-8a9b-000000bb8003", "_timestamp": "2025-01-15T12:00:00.163460+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:00.163460+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', 1736942400.173461, 'running', '{"invocation_id": "00003003-1c2d-4e5f-8a9b-000000bb8003", "_timestamp": "2025-01-15T12:00:00.173461+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:00.173461+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', 1736942401.123456, 'success', '{"invocation_id": "00003003-1c2d-4e5f-8a9b-000000bb8003", "_timestamp": "2025-01-15T12:00:01.123456+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:01.123456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 1736942401.623456, 'pending', '{"invocation_id": "00003004-1c2d-4e5f-8a9b-000000bb8004", "_timestamp": "2025-01-15T12:00:01.623456+00:00", "status_record": {"status": "pending", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:01.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 1736942402.373456, 'running', '{"invocation_id": "00003004-1c2d-4e5f-8a9b-000000bb8004", "_timestamp": "2025-01-15T12:00:02.373456+00:00", "status_record": {"status": "running", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:02.373456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 1736942402.623456, 'failed', '{"invocation_id": "00003004-1c2d-4e5f-8a9b-000000bb8004", "_timestamp": "2025-01-15T12:00:02.623456+00:00", "status_record": {"status": "failed", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:02.623456+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 1736942403.123457, 'success', '{"invocation_id": "00003001-1c2d-4e5f-8a9b-000000bb8001", "_timestamp": "2025-01-15T12:00:03.123457+00:00", "status_record": {"status": "success", "runner_id": "ThreadRunner@worker-1-12288-t1", "timestamp": "2025-01-15T12:00:03.123457+00:00"}, "runner_context_id": "ThreadRunner@worker-1-12288-t1", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES ('00003002-1c2d-4e5f-8a9b-000000bb8002', 1736942500.5, 'registered', '{"invocation_id": "00003002-1c2d-4e5f-8a9b-000000bb8002", "_timestamp": "2025-01-15T12:01:40.500000", "status_record": {"status": "registered", "runner_id": null, "timestamp": "2025-01-15T12:01:40.500000"}, "runner_context_id": "ExternalRunner@worker-1-12297", "registered_by_inv_id": null}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_results VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', '3');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_results VALUES ('00003003-1c2d-4e5f-8a9b-000000bb8003', '"3quatre"');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_exceptions VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', '{"error_name": "ValueError", "pynenc_error": false, "error_data": "{\"args\": [\"flow failed\"]}"}');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflows VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 'shop.billing.add', '');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflows VALUES ('00003004-1c2d-4e5f-8a9b-000000bb8004', 'shop.billing.flow', '00003001-1c2d-4e5f-8a9b-000000bb8001');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflow_data VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 'counter', '5');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflow_data VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', 'started_at', '"2025-01-15T12:00:00.123456+00:00"');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflow_sub_invocations VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', '00003003-1c2d-4e5f-8a9b-000000bb8003');
INSERT OR REPLACE INTO billing_v2_bae32160__state_backend_workflow_sub_invocations VALUES ('00003001-1c2d-4e5f-8a9b-000000bb8001', '00003004-1c2d-4e5f-8a9b-000000bb8004');

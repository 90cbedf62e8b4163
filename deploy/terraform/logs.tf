# Airflow's task logs, written by the scheduler (LocalExecutor) and read by the API
# server for the UI's log view and the failure alert's log link. In a bucket they
# outlive the pods; the scheduler's service account writes them and the API server's
# reads them, through Workload Identity (no key). The overlays point AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER here.
resource "google_storage_bucket" "airflow_logs" {
  # checkov:skip=CKV_GCP_62: access logs of the log bucket would log the logging; who read or wrote which object is in the Cloud Audit Logs (Data Access, below).
  # checkov:skip=CKV_GCP_78: task logs are written once and expire; versioning would only keep deleted logs longer.
  name                        = "data-ops-meltano-airflow-logs${local.suffix}"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.airflow_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# The scheduler runs the tasks (LocalExecutor) and writes their logs: create, read and
# list objects in this bucket only (no bucket administration).
resource "google_storage_bucket_iam_member" "scheduler_writes_airflow_logs" {
  bucket = google_storage_bucket.airflow_logs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.workload["meltano-scheduler"].member
}

# The API server shows them (the UI's log view, the failure alert's log link).
resource "google_storage_bucket_iam_member" "api_server_reads_airflow_logs" {
  bucket = google_storage_bucket.airflow_logs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.workload["airflow-api-server"].member
}

# Cloud Storage Data Access audit logs (off by default): who read or wrote which object
# of the project's buckets — the Xactly driver, the task logs — with which identity.
resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

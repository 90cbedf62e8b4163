# Application-layer Secrets encryption: GKE encrypts Kubernetes Secrets in etcd with
# this key (envelope encryption), on top of Google's default encryption at rest. The
# key never leaves Cloud KMS; the GKE service agent only uses it.

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_kms_key_ring" "meltano" {
  name     = "data-ops-meltano${local.suffix}"
  location = var.region # the cluster's region: GKE needs the key there

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "gke_secrets" {
  name            = "gke-secrets"
  key_ring        = google_kms_key_ring.meltano.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days; old versions stay to decrypt older Secrets

  lifecycle {
    # Destroying the key would make every Secret of the cluster unreadable.
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "gke_secrets" {
  crypto_key_id = google_kms_crypto_key.gke_secrets.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@container-engine-robot.iam.gserviceaccount.com"
}

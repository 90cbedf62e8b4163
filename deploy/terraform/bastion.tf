# The way into the private network for operators: a small VM without a public IP,
# reached only through Identity-Aware Proxy TCP forwarding (IAM-checked, audit-logged),
# logging in with OS Login. It serves two things:
# - the Cloud SQL Auth Proxy on its loopback, as its own service account, the database
#   administrator: `terraform apply` of database/ connects through an SSH tunnel to it
#   (README.md, "Database privileges");
# - a SOCKS tunnel to the cluster's private control-plane endpoint, when the DNS
#   endpoint (gke.tf) is not wanted.

resource "google_compute_subnetwork" "admin" {
  name                     = "data-ops-meltano-admin${local.suffix}"
  network                  = google_compute_network.meltano.id
  region                   = var.region
  ip_cidr_range            = var.admin_subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_service_account" "bastion" {
  account_id   = "meltano-bastion${local.suffix}"
  display_name = "data-ops-meltano${local.suffix} bastion: database administrator"

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "bastion_cloud_sql" {
  for_each = local.cloud_sql_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.bastion.member

  condition {
    title       = "instance-${google_sql_database_instance.meltano.name}"
    description = "Only the Cloud SQL instance of data-ops-meltano${local.suffix}"
    expression  = local.cloud_sql_instance_condition
  }
}

locals {
  # Container-Optimized OS starts the proxy (the image and version the pods' sidecars
  # use) on 127.0.0.1:5432 only: reachable through an SSH tunnel, never from the network.
  bastion_cloud_init = <<-EOT
    #cloud-config
    write_files:
      - path: /etc/systemd/system/cloud-sql-proxy.service
        permissions: "0644"
        content: |
          [Unit]
          Description=Cloud SQL Auth Proxy on the loopback (database administration)
          Wants=network-online.target docker.service
          After=network-online.target docker.service
          [Service]
          ExecStart=/usr/bin/docker run --rm --name cloud-sql-proxy --network host gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3 --auto-iam-authn --private-ip --address 127.0.0.1 --port 5432 ${google_sql_database_instance.meltano.connection_name}
          ExecStop=/usr/bin/docker stop cloud-sql-proxy
          Restart=always
    runcmd:
      - systemctl daemon-reload
      - systemctl start cloud-sql-proxy.service
  EOT
}

resource "google_compute_instance" "bastion" {
  # checkov:skip=CKV_GCP_38: the boot disk holds Container-Optimized OS (read-only root, verified at boot) and the proxy image, no platform data and no key: the account's tokens come from the metadata server. A customer key would protect nothing here.
  name         = "data-ops-meltano-bastion${local.suffix}"
  zone         = var.node_zones[0]
  machine_type = "e2-micro"

  boot_disk {
    initialize_params {
      image = "cos-cloud/cos-stable"
      size  = 10
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.admin.id
    # No access_config: no public IP. IAP reaches it; Cloud NAT lets it pull the image.
  }

  service_account {
    email  = google_service_account.bastion.email
    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    enable-oslogin         = "TRUE" # IAM decides who logs in, no SSH keys in metadata
    block-project-ssh-keys = "true"
    serial-port-enable     = "false"
    user-data              = local.bastion_cloud_init
  }

  labels = {
    app         = "data-ops-meltano"
    environment = var.environment
  }

  depends_on = [google_sql_user.admin]
}

# SSH from Identity-Aware Proxy's forwarding range only, to the bastion only.
resource "google_compute_firewall" "iap_ssh_to_bastion" {
  name      = "data-ops-meltano-iap-ssh${local.suffix}"
  network   = google_compute_network.meltano.id
  direction = "INGRESS"

  source_ranges           = ["35.235.240.0/20"] # IAP TCP forwarding
  target_service_accounts = [google_service_account.bastion.email]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Who may use the bastion (and so administer the databases): tunnel through IAP to this
# instance, log in with OS Login (no sudo), and act as its service account.
resource "google_iap_tunnel_instance_iam_member" "operators" {
  for_each = toset(var.operators)

  zone     = google_compute_instance.bastion.zone
  instance = google_compute_instance.bastion.name
  role     = "roles/iap.tunnelResourceAccessor"
  member   = each.value
}

resource "google_compute_instance_iam_member" "operators" {
  for_each = toset(var.operators)

  zone          = google_compute_instance.bastion.zone
  instance_name = google_compute_instance.bastion.name
  role          = "roles/compute.osLogin"
  member        = each.value
}

resource "google_service_account_iam_member" "operators_use_bastion" {
  for_each = toset(var.operators)

  service_account_id = google_service_account.bastion.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

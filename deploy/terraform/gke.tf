resource "google_container_cluster" "meltano" {
  # checkov:skip=CKV_GCP_69: the cluster's own node_config would describe the default pool, which is removed at creation; the managed pool below sets GKE_METADATA.
  # checkov:skip=CKV_GCP_65: Google Groups for RBAC needs the organisation's Workspace group gke-security-groups@<domain>, unknown here; operators get cluster access through IAM roles.
  name     = "data-ops-meltano${local.suffix}"
  location = var.region # regional control plane: stays up through its own upgrades

  network    = google_compute_network.meltano.id
  subnetwork = google_compute_subnetwork.nodes.id

  # The node pool is managed on its own (below): GKE needs a default pool to create a
  # cluster, so the smallest one is created and removed at once.
  remove_default_node_pool = true
  initial_node_count       = 1

  deletion_protection = local.is_production

  release_channel {
    channel = "REGULAR"
  }

  # VPC-native: pods and services get alias IPs from the subnet's secondary ranges.
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  # Dataplane V2 enforces the manifests' NetworkPolicies itself; the Calico addon stays off.
  datapath_provider = "ADVANCED_DATAPATH"
  network_policy {
    enabled = false
  }

  # The control plane has no public IP endpoint. Two ways in (README.md, "Cluster
  # access"): its DNS endpoint, where every request needs a Google identity allowed to
  # connect (IAM), then Kubernetes RBAC; or the private IP endpoint, from the networks
  # below only (the bastion's subnet and var.master_authorized_networks).
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = true
    master_ipv4_cidr_block  = var.master_ipv4_cidr_block
  }

  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled      = false
    private_endpoint_enforcement_enabled = true

    cidr_blocks {
      cidr_block   = google_compute_subnetwork.admin.ip_cidr_range
      display_name = "bastion"
    }

    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  # Kubernetes Secrets are encrypted in etcd with a Cloud KMS key of this project (kms.tf).
  database_encryption {
    state    = "ENCRYPTED"
    key_name = google_kms_crypto_key.gke_secrets.id
  }

  # Only images the release pipeline attested are admitted (binary_authorization.tf).
  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true # pod-to-pod traffic shows in the VPC flow logs
  enable_legacy_abac          = false

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  # Sync pods mount Xactly's JDBC driver read-only from the vendor-drivers bucket.
  addons_config {
    gcs_fuse_csi_driver_config {
      enabled = true
    }
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
  }

  # Upgrades start at weekends between the syncs (schedules in UTC: 00, 04, 05, 07, 08, 16).
  maintenance_policy {
    recurring_window {
      start_time = "2024-01-06T09:00:00Z"
      end_time   = "2024-01-06T15:00:00Z"
      recurrence = "FREQ=WEEKLY;BYDAY=SA,SU"
    }
  }

  resource_labels = {
    app         = "data-ops-meltano"
    environment = var.environment
  }

  # GKE checks at creation that its service agent may use the key.
  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.gke_secrets]
}

resource "google_container_node_pool" "meltano" {
  name           = "meltano-pool${local.suffix}"
  cluster        = google_container_cluster.meltano.id
  location       = var.region
  node_locations = var.node_zones

  # Per zone, at creation only: from then on the autoscaler owns the size.
  initial_node_count = 1

  # Totals over all zones. Scale-up is driven by pending sync pods (one per sync);
  # a node running a sync is not removed (safe-to-evict: false on the sync pods).
  autoscaling {
    total_min_node_count = var.node_min_count
    total_max_node_count = var.node_max_count
    location_policy      = "BALANCED"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  # A new node comes up before an old one is drained.
  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type = var.machine_type
    image_type   = "COS_CONTAINERD"
    disk_type    = "pd-balanced"
    disk_size_gb = 100

    # Least privilege: the nodes' own account only writes logs and metrics and reads
    # the project's image; workloads use Workload Identity, never the node's account.
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }

    labels = {
      app         = "data-ops-meltano"
      environment = var.environment
    }
  }

  lifecycle {
    # Resizes (autoscaler or by hand) change what the API reports; a diff here would
    # recreate the pool.
    ignore_changes = [initial_node_count]
  }
}

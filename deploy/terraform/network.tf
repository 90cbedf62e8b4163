# A VPC of its own: nodes without public IPs reach the SaaS APIs, Snowflake and image
# registries through Cloud NAT, Google APIs through Private Google Access, and Cloud SQL
# through private services access.

resource "google_compute_network" "meltano" {
  name                    = "data-ops-meltano${local.suffix}"
  auto_create_subnetworks = false

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  name                     = "data-ops-meltano-nodes${local.suffix}"
  network                  = google_compute_network.meltano.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "nat" {
  name    = "data-ops-meltano-nat${local.suffix}"
  network = google_compute_network.meltano.id
  region  = var.region
}

resource "google_compute_router_nat" "nat" {
  name                               = "data-ops-meltano-nat${local.suffix}"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Private services access: the range Cloud SQL's private IP is taken from.
resource "google_compute_global_address" "private_services" {
  name         = "data-ops-meltano-private-services${local.suffix}"
  purpose      = "VPC_PEERING"
  address_type = "INTERNAL"
  # Fixed, not allocated: the pods' egress policy names it.
  address       = split("/", var.private_services_cidr)[0]
  prefix_length = tonumber(split("/", var.private_services_cidr)[1])
  network       = google_compute_network.meltano.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.meltano.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
  # Cloud SQL keeps using the peering for a while after its instance is deleted, so
  # removing it would fail a destroy; the network's deletion removes it.
  deletion_policy = "ABANDON"
}

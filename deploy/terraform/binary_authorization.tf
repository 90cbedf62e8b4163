# Binary Authorization: the cluster admits only images the release pipeline attested.
# `dataops deploy` pins every image of a release by digest; the pipeline's deploy job
# signs an attestation for each of those digests with the KMS key below (as this
# environment's release account) before applying. Any other image (a pod started by
# hand, a tag pushed outside the pipeline, an image swapped in the registry) is refused
# at admission. Google's own system images stay allowed (global policy).

resource "google_kms_crypto_key" "image_attestor" {
  name     = "image-attestor"
  key_ring = google_kms_key_ring.meltano.id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = "EC_SIGN_P256_SHA256"
    protection_level = "SOFTWARE"
  }

  lifecycle {
    # The attestor names this key's public half: without it no release is admitted.
    prevent_destroy = true
  }
}

# The attestor's public key: version 1 (an asymmetric key does not rotate by itself).
data "google_kms_crypto_key_version" "image_attestor" {
  crypto_key = google_kms_crypto_key.image_attestor.id
  version    = 1
}

resource "google_container_analysis_note" "release" {
  name = "meltano-release${local.suffix}"

  attestation_authority {
    hint {
      human_readable_name = "Released by data-ops-meltano${local.suffix}'s pipeline"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_binary_authorization_attestor" "release" {
  name        = "meltano-release${local.suffix}"
  description = "Images of a data-ops-meltano${local.suffix} release, by digest"

  attestation_authority_note {
    note_reference = google_container_analysis_note.release.name

    public_keys {
      id = data.google_kms_crypto_key_version.image_attestor.id
      pkix_public_key {
        public_key_pem      = data.google_kms_crypto_key_version.image_attestor.public_key[0].pem
        signature_algorithm = data.google_kms_crypto_key_version.image_attestor.public_key[0].algorithm
      }
    }
  }
}

resource "google_binary_authorization_policy" "cluster" {
  global_policy_evaluation_mode = "ENABLE" # Google-maintained system images

  default_admission_rule {
    evaluation_mode         = "REQUIRE_ATTESTATION"
    enforcement_mode        = var.image_admission_enforcement
    require_attestations_by = [google_binary_authorization_attestor.release.name]
  }

  depends_on = [google_project_service.apis]
}

# The release account signs with the key and records the attestation (an occurrence of
# the note); nothing else may sign.
resource "google_kms_crypto_key_iam_member" "release_signs" {
  crypto_key_id = google_kms_crypto_key.image_attestor.id
  role          = "roles/cloudkms.signerVerifier"
  member        = google_service_account.release.member
}

resource "google_container_analysis_note_iam_member" "release_attaches" {
  note   = google_container_analysis_note.release.name
  role   = "roles/containeranalysis.notes.attacher"
  member = google_service_account.release.member
}

resource "google_binary_authorization_attestor_iam_member" "release_reads" {
  attestor = google_binary_authorization_attestor.release.name
  role     = "roles/binaryauthorization.attestorsViewer"
  member   = google_service_account.release.member
}

"""What training does to a batch: the two views of L_IM (Eq.2), sensor failures and corruptions, and the
skeleton masking of L_deg (Eq.3)."""

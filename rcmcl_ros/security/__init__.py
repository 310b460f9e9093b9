"""Running the node secured with SROS2: its permissions policy (policy.py)."""

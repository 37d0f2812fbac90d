"""The running system from kcdata's side: what the services run with, bringing it up until the DAGs
are there, the main job (`kcdata up`) and the demo's approvals."""

"""The resources the portal tests' shared publish run ingests, and what each stands for."""
OPEN = "KC-WSJK-001"  # clinics, 无条件开放, approved
PERSONAL = "KC-SCJG-001"  # enterprises, 无条件开放 with personal items, approved
CONDITIONAL = "KC-YJGL-001"  # inspections, 有条件开放, approved
NOT_OPEN = "KC-RLZY-001"  # talent registry, 不予开放, approved anyway
UNAPPROVED = "KC-JTYS-001"  # traffic flow, open but nobody approved
FAILED = "KC-CSGL-002"  # street lights, approved but its version failed validation
ALL = [OPEN, PERSONAL, CONDITIONAL, NOT_OPEN, UNAPPROVED, FAILED]
SIGNED = ["manifest.json", "manifest.json.sig", "signing-key.pem"]  # beside every published version

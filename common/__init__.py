"""The ground floor: settings, errors, atomic writes, checksums, SQL quoting, code check
characters and the lake layout. Imports nothing of ours."""

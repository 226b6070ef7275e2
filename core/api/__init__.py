"""What every app's REST API shares: authentication, throttling, pagination, errors, the audit line.

Each app serves its own resources from its ``api.py``; the plumbing here is done once
so every endpoint authenticates, paginates and answers errors the same way.
"""

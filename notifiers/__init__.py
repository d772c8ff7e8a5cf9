"""The outbound edge: e-mail (aiosmtplib) and webhooks, behind one small interface each.

Not built yet: the playbook stage that decides what to send comes first.
"""

"""The console: the incident desk where contractors file, city officials answer and reviewers read.

An aiohttp app over the incident store. It writes only by producing incident
events; its security primitives (users, policy, sessions, audit) are plain
modules tested without a server.
"""

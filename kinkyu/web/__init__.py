"""HTTP pieces shared by the edges that serve pages: the notifier's acknowledgement endpoint and the console.

- :mod:`kinkyu.web.ack_pages`: the pages an acknowledgement link answers with;
- :mod:`kinkyu.web.server`: what a started aiohttp server listens on.
"""

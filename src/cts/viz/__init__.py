"""Pictures and pages: matplotlib figures (``figures``) and self-contained HTML (``html``).

Both only draw what they are given (numbers, or a timeline's events) and import nothing of ours but ``cts.io``, so
every layer (data stages, annotation evaluation, training reports) can use them.
"""

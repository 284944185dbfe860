"""Several serving processes behind one template view: which process owns a prompt.

No gRPC here (the server's forwarding is :mod:`promptprint.server.forwarding`):

* :mod:`~promptprint.cluster.routing`: the routing key of a prompt, from its own signature;
* :mod:`~promptprint.cluster.placement`: rendezvous hashing of a key over the members;
* :mod:`~promptprint.cluster.membership`: the members, from configuration or DNS.

Why partitioned state and these choices: docs/scaling.md.
"""

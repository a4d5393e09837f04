"""Request and response bodies, one module per router of `dalgo.api.routes` and `common` for what
several share: `Create`/`Update` schemas bind requests, `Public` ones answer.

None of them carries a password, a hash, a token hash or an invitation code back to a client.
"""

"""Push messages: signed receivers for Doudian message pushes and Douyin Open Platform webhooks."""

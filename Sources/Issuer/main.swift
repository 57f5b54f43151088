print("issuer")

import IssuerCore

await IssuerMain.run()

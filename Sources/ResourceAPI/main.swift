import ResourceAPICore

await ResourceAPICommand.start()

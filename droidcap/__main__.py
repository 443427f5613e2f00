from droidcap.cli import main

main()

from nas.latency.app import main

main()

-- One database per service (used by docker-compose.yml's postgres container on first start).
CREATE DATABASE gatehouse_intake OWNER gatehouse;
CREATE DATABASE gatehouse_governance OWNER gatehouse;
CREATE DATABASE gatehouse_reporting OWNER gatehouse;

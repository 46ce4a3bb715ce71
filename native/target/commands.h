// Command handlers, by command set. Each completes the request with Qpair::complete(),
// now or later (bdev callbacks, held AERs).
#pragma once

namespace rdmagate::target {

class Qpair;
struct Request;

void execute_fabrics(Qpair& qpair, Request* req);   // Connect, Property Get/Set, Disconnect
void execute_admin(Qpair& qpair, Request* req);     // admin command set, discovery included
void execute_io(Qpair& qpair, Request* req);        // NVM command set

}  // namespace rdmagate::target
